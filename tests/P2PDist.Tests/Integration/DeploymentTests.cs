using System.Text.RegularExpressions;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The deployment files in deploy/, checked by the tools that will read them: systemd's own verifier on the
/// units (in a scratch root holding systemd's units and the p2pdist binary where the units expect it), and the
/// p2pdist command's own parser on every flag the units pass.
/// </summary>
public sealed class DeploymentTests
{
    private static readonly string Units = Path.Combine(AppContext.BaseDirectory, "systemd");

    [Fact]
    public async Task SystemdUnits_PassSystemdAnalyzeVerify_WithoutAWarning_AndAMistakeIsCaught()
    {
        string root = ScratchRoot();
        string[] units = Directory.GetFiles(Units, "*.service").Select(Path.GetFileName).ToArray()!;
        Assert.Equal(["p2pdist-peer.service", "p2pdist-supernode.service"], units.Order());
        foreach (string unit in units)
            File.Copy(Path.Combine(Units, unit), Path.Combine(root, "etc/systemd/system", unit));
        var result = await VerifyAsync(root, units);
        // systemd-analyze exits 0 on a directive it ignores: a clean unit prints nothing at all.
        Assert.True(result.ExitCode == 0 && result.Output.Trim().Length == 0, $"systemd-analyze verify: {result.Output}");

        string broken = Path.Combine(root, "etc/systemd/system", units[0]);
        await File.WriteAllTextAsync(broken, (await File.ReadAllTextAsync(broken)).Replace("Type=exec", "Type=exce", StringComparison.Ordinal));
        Assert.Contains("Failed to parse service type", (await VerifyAsync(root, units[..1])).Output);
    }

    [Theory]
    [InlineData("p2pdist-peer.service", "peer")]
    [InlineData("p2pdist-supernode.service", "supernode")]
    public async Task SystemdUnits_PassOnlyFlagsTheCommandKnows(string unit, string verb)
    {
        string text = (await File.ReadAllTextAsync(Path.Combine(Units, unit))).Replace("\\\n", " ", StringComparison.Ordinal);
        string exec = Regex.Match(text, @"^ExecStart=(.+)$", RegexOptions.Multiline).Groups[1].Value;
        Assert.StartsWith($"/usr/local/bin/p2pdist {verb} ", exec);
        var flags = Regex.Matches(exec, @"\s(--[a-z-]+)").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("--config", flags);
        var help = await P2PDistCli.RunAsync([verb, "--help"]);
        Assert.All(flags, flag => Assert.Contains(flag, help.Output));
    }

    [Fact]
    public async Task ContainerdDropIn_PassesSystemdAnalyzeVerify_StartsContainerdAfterThePeer_AndAMistakeIsCaught()
    {
        string root = ScratchRoot();
        // Debian's containerd package (install-host-packages.sh) provides the unit the drop-in extends.
        Assert.True(File.Exists(Path.Combine(root, "usr/lib/systemd/system/containerd.service")), "containerd.service is not installed");
        CopyBinary(root, "/usr/bin/containerd");
        File.Copy(Path.Combine(Units, "p2pdist-peer.service"), Path.Combine(root, "etc/systemd/system/p2pdist-peer.service"));
        string dropIns = Directory.CreateDirectory(Path.Combine(root, "etc/systemd/system/containerd.service.d")).FullName;
        string text = await File.ReadAllTextAsync(Path.Combine(Units, "containerd.service.d", "p2pdist.conf"));
        Assert.Matches(@"(?m)^Wants=p2pdist-peer\.service$", text);
        Assert.Matches(@"(?m)^After=p2pdist-peer\.service$", text);
        await File.WriteAllTextAsync(Path.Combine(dropIns, "p2pdist.conf"), text);

        var result = await VerifyContainerdAsync(root);
        Assert.True(result.ExitCode == 0 && result.Output.Trim().Length == 0, $"systemd-analyze verify: {result.Output}");

        await File.WriteAllTextAsync(Path.Combine(dropIns, "p2pdist.conf"), text.Replace("After=", "Afterr=", StringComparison.Ordinal));
        Assert.Contains("Unknown key 'Afterr' in section [Unit]", (await VerifyContainerdAsync(root)).Output);
    }

    [Fact]
    public async Task ContainerdConfigFile_IsWhatTheCommandPrints_ForThePeersDefaultSocket()
    {
        string file = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "containerd", "p2pdist.toml"));
        var printed = await P2PDistCli.RunOkAsync("containerd", "config");
        Assert.Equal(printed.Stdout, file);
        // The address is where a peer with the default data directory serves its snapshotter.
        Assert.Contains($"address = \"{new P2PDist.Peer.Daemon.PeerOptions().SnapshotterSocketPath}\"\n", file);
    }

    private static Task<ProcessRunner.Result> VerifyContainerdAsync(string root) =>
        ProcessRunner.RunAsync("systemd-analyze", ["verify", $"--root={root}", "containerd.service"], TimeSpan.FromSeconds(60));

    /// <summary>systemd-analyze verify checks that a unit's programs exist inside the root.</summary>
    private static void CopyBinary(string root, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(root + path)!);
        File.Copy(path, root + path);
    }

    private static string ScratchRoot()
    {
        string root = TestPaths.NewDirectory("systemd-root");
        Directory.CreateDirectory(Path.Combine(root, "etc/systemd/system"));
        Directory.CreateDirectory(Path.Combine(root, "usr/local/bin"));
        CopyDirectory("/usr/lib/systemd/system", Path.Combine(root, "usr/lib/systemd/system")); // the targets the units name
        File.Copy(TestPaths.Cli, Path.Combine(root, "usr/local/bin/p2pdist"));
        return root;
    }

    private static Task<ProcessRunner.Result> VerifyAsync(string root, IEnumerable<string> units) =>
        ProcessRunner.RunAsync("systemd-analyze", ["verify", $"--root={root}", .. units.Select(u => "/etc/systemd/system/" + u)], TimeSpan.FromSeconds(60));

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            var info = new FileInfo(file);
            if (info.LinkTarget is { } target)
                File.CreateSymbolicLink(Path.Combine(to, info.Name), target);
            else
                File.Copy(file, Path.Combine(to, info.Name));
        }
        foreach (string directory in Directory.EnumerateDirectories(from))
        {
            var info = new DirectoryInfo(directory);
            if (info.LinkTarget is { } target)
                Directory.CreateSymbolicLink(Path.Combine(to, info.Name), target);
            else
                CopyDirectory(directory, Path.Combine(to, info.Name));
        }
    }
}
