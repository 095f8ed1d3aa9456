using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Review finding H6: with allow_other, an image's setuid-root binary or device node on a mount anywhere on the
/// node would be usable by every user. A plain mount is nosuid,nodev; a container root (under the daemon's
/// 0700 roots directory) keeps both, as an overlayfs root does. Real Debian root file system, real FUSE.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class PeerMountSafetyTests(RegistryFixture registry)
{
    private const int SetuidRootExecutable = 0x9ED; // 04755

    /// <summary>A shell command as user nobody (the shell, not setpriv, resolves the path: setpriv execs it with root's search rights).</summary>
    private static Task<ProcessRunner.Result> AsNobodyAsync(string command) =>
        ProcessRunner.RunAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", command]);

    [Fact]
    public async Task H6_SetuidAndDevices_AreInertOnAPlainMount_AndWorkInAContainerRoot()
    {
        string tarball = Environment.GetEnvironmentVariable("P2PDIST_DEBIAN_ROOTFS") ?? "";
        Assert.True(File.Exists(tarball), "P2PDIST_DEBIAN_ROOTFS must name the Debian minbase tarball (tests/run-all.sh builds it)");
        byte[] id = await File.ReadAllBytesAsync("/usr/bin/id");
        var image = new TestImage()
            .RawLayer(await File.ReadAllBytesAsync(tarball), LayerCompression.Gzip)
            .Layer(w =>
            {
                w.File("usr/local/bin/suid-id", id, mode: SetuidRootExecutable);
                w.CharDevice("nulldev", 1, 3);
            });
        string target = await image.PushAndConvertAsync(registry.Host, "h6-debian");
        string open = OpenDirectory.Create("h6");
        await using var peer = await PeerProcess.StartAsync(Path.Combine(open, "data"));

        string plain = Path.Combine(open, "plain");
        Directory.CreateDirectory(plain, (UnixFileMode)0x1ED);
        Assert.Equal(0, (await peer.CliAsync("mount", target, plain, "--plain-http")).ExitCode);
        string options = File.ReadLines("/proc/self/mountinfo").Single(l => l.Split(' ')[4] == plain).Split(' ')[5];
        Assert.Contains("nosuid", options);
        Assert.Contains("nodev", options);
        var plainId = await AsNobodyAsync($"exec {Path.Combine(plain, "usr/local/bin/suid-id")} -u");
        Assert.True(plainId.ExitCode == 0, plainId.Output);
        Assert.Equal("65534", plainId.Stdout.Trim()); // the setuid bit is there, and inert
        Assert.Equal("-rwsr-xr-x", (await ProcessRunner.RunCheckedAsync("stat", "-c", "%A", Path.Combine(plain, "usr/local/bin/suid-id"))).Stdout.Trim());
        var plainDevice = await ProcessRunner.RunAsync("cat", [Path.Combine(plain, "nulldev")]);
        Assert.NotEqual(0, plainDevice.ExitCode);
        Assert.Contains("Permission denied", plainDevice.Stderr);

        var mount = await peer.CliAsync("mount", target, "h6-root", "--container-root", "--plain-http");
        Assert.True(mount.ExitCode == 0, mount.Output);
        string root = Path.Combine(peer.DataDir, "roots", "h6-root");
        Assert.Contains($"at {root}", mount.Stdout);
        string rootOptions = File.ReadLines("/proc/self/mountinfo").Single(l => l.Split(' ')[4] == root).Split(' ')[5];
        Assert.DoesNotContain("nosuid", rootOptions);
        var containerId = await ProcessRunner.RunAsync("chroot", [root, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "exec /usr/local/bin/suid-id -u"]);
        Assert.True(containerId.ExitCode == 0, containerId.Output);
        Assert.Equal("0", containerId.Stdout.Trim()); // setuid works inside the container's root
        var containerDevice = await ProcessRunner.RunAsync("chroot", [root, "cat", "/nulldev"]);
        Assert.True(containerDevice.ExitCode == 0, containerDevice.Output);
        // The roots directory is the daemon's: no other user of the node reaches the setuid binary.
        var reach = await AsNobodyAsync($"exec {Path.Combine(root, "usr/local/bin/suid-id")} -u");
        Assert.True(reach.ExitCode != 0, $"nobody ran the container root's setuid binary: {reach.Output}");
        Assert.Contains("Permission denied", reach.Stderr);
        Assert.Equal(0, (await peer.CliAsync("umount", root)).ExitCode);
        Assert.False(Directory.Exists(root));
    }
}
