using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// `p2pdist image optimize` end to end: a real container (runc) over a lazy FUSE mount of Debian minbase,
/// a real registry; the files the workload read become the prefetch table, and a cold peer fetches exactly
/// those without any read, so they survive a registry outage while the others do not.
/// </summary>
public sealed class ImageOptimizeTests
{
    [Fact]
    public async Task TheWorkloadsFiles_BecomeThePrefetchTable_AndAColdPeerHasThemBeforeAnyRead()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] unread = SampleImages.Bytes(2 << 20, 71);
        string source = await (await DebianImage.LoadAsync()).Layer(w => w.File("opt/app/unread.bin", unread)).PushAsync(server.Host, "optimize", "v1");
        string target = $"{server.Host}/optimize:rafs-opt";

        var optimized = await P2PDistCli.RunOkAsync("image", "optimize", source, target, "--plain-http", "--", "/bin/cat", "/etc/debian_version");
        Assert.Contains("12.", optimized.Stdout); // the workload's own output
        Assert.Matches(@"a prefetch table of \d+ files", optimized.Stdout);
        string inspect = (await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http")).Stdout;
        var entries = int.Parse(System.Text.RegularExpressions.Regex.Match(inspect, @"prefetch: (\d+) entries").Groups[1].Value);
        Assert.InRange(entries, 3, 50); // cat, the loader, libc, debian_version and a few more; never the whole image

        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        await peer.WaitForLogAsync("prefetch done");
        await server.StopAsync();

        Assert.StartsWith("12.", await File.ReadAllTextAsync(Path.Combine(mountPoint, "etc/debian_version")));
        Assert.True((await File.ReadAllBytesAsync(Path.Combine(mountPoint, "usr/bin/cat"))).Length > 10_000);
        var notRead = await ProcessRunner.RunAsync("cat", [Path.Combine(mountPoint, "opt/app/unread.bin")], TimeSpan.FromSeconds(90));
        Assert.Contains("Input/output error", notRead.Stderr); // not in the table, and the registry is gone
    }

    [Fact]
    public async Task AWorkloadThatFails_PushesNothing_AndSaysWhy()
    {
        await using var server = await RegistryServer.StartAsync();
        string source = await DebianImage.PushAsync(server.Host, "optimize-fail", "v1");
        string target = $"{server.Host}/optimize-fail:rafs-opt";
        var failed = await P2PDistCli.RunAsync("image", "optimize", source, target, "--plain-http", "--", "/bin/sh", "-c", "exit 3");
        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("exited with code 3: nothing recorded, nothing pushed", failed.Stderr);
        var missing = await P2PDistCli.RunAsync("image", "inspect", target, "--plain-http");
        Assert.NotEqual(0, missing.ExitCode);
    }
}
