using System.Diagnostics;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Faults under a mounted image: registry outage, a corrupt blob, the daemon killed with kill -9.</summary>
public sealed class PeerFaultTests
{
    private static Task<string> ConvertAsync(RegistryServer server, TestImage image, string repository) => image.PushAndConvertAsync(server.Host, repository);

    [Fact]
    public async Task RegistryDown_ReadFailsWithEioWithinTheDeadline_ThenSucceedsWhenItReturns()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(3 << 20, 51);
        string target = await ConvertAsync(server, new TestImage().Layer(w => w.File("data.bin", content)), "outage");
        await using var peer = await PeerProcess.StartAsync(null, "--read-timeout", "4");
        string mountPoint = await peer.MountAsync(target);
        await server.StopAsync();

        var clock = Stopwatch.StartNew();
        var failed = await ProcessRunner.RunAsync("cat", [Path.Combine(mountPoint, "data.bin")], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("Input/output error", failed.Stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the failing read took {clock.Elapsed}");

        await server.StartAgainAsync();
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
    }

    [Fact]
    public async Task FlippedByteInBlob_GivesEioAndIsCounted_OtherFilesStillRead()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] bad = SampleImages.Bytes(2 << 20, 52), good = SampleImages.Bytes(100_000, 53);
        string target = await ConvertAsync(server, new TestImage().Layer(w => { w.File("bad.bin", bad); w.File("good.bin", good); }), "flipped");
        var inspect = await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http");
        string blob = inspect.Stdout.Split('\n').First(l => l.TrimStart().StartsWith("sha256:", StringComparison.Ordinal)).Trim().Split(' ')[0];
        BadInputTests.FlipByte(server.BlobDataPath(blob), 10); // inside bad.bin's first chunk (random data is stored as is)

        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        var read = await ProcessRunner.RunAsync("cat", [Path.Combine(mountPoint, "bad.bin")], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, read.ExitCode);
        Assert.Contains("Input/output error", read.Stderr);
        Assert.Equal(good, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "good.bin")));
        var info = await peer.MountInfoAsync(target);
        Assert.True(info.DigestFailures > 0 && info.ReadErrors > 0, $"digest failures {info.DigestFailures}, read errors {info.ReadErrors}");
        Assert.True(await peer.LogContainsAsync("chunk digest mismatch"), "expected in the peer log: chunk digest mismatch");
    }

    [Fact]
    public async Task DaemonKilled_RestartRemountsWithoutTheRegistry_AndTheCacheServesWhatWasRead()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(5 << 20, 54);
        string target = await ConvertAsync(server, new TestImage().Layer(w => w.File("data.bin", content)), "restart");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));

        peer.Kill();
        var dead = await ProcessRunner.RunAsync("ls", [mountPoint]);
        Assert.Contains("Transport endpoint is not connected", dead.Stderr);

        // The registry is gone too: the remount uses the kept manifest and bootstrap, the data the chunk cache.
        await server.StopAsync();
        await peer.RestartAsync();
        await Eventually.Async(() => peer.CliAsync("mounts"), listed => listed.Stdout.Contains(mountPoint, StringComparison.Ordinal), TimeSpan.FromSeconds(30),
            $"`p2pdist mounts` to list {mountPoint} again after the restart", listed => listed.Output);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
    }
}
