using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Prefetch: the image's prefetch table, and the whole image with --prefetch-all, reach the cache without a read.</summary>
public sealed class PeerPrefetchTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Prefetch_WarmsTheCacheSoReadsSurviveARegistryOutage(bool wholeImage)
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] listed = SampleImages.Bytes(3 << 20, 61), other = SampleImages.Bytes(2 << 20, 62);
        string source = await new TestImage().Layer(w => { w.File("app/start.bin", listed); w.File("data/other.bin", other); }).PushAsync(server.Host, "prefetch", "v1");
        string list = Path.Combine(TestPaths.NewDirectory("prefetch"), "list");
        await File.WriteAllTextAsync(list, "# files the app reads at start\n/app\n");
        string target = $"{server.Host}/prefetch:rafs";
        await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http", "--prefetch-files", list);
        Assert.Contains("prefetch: 1 entries", (await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http")).Stdout);

        await using var peer = wholeImage ? await PeerProcess.StartAsync(null, "--prefetch-all") : await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        await peer.WaitForLogAsync("prefetch done"); // fails here, naming it, if the prefetch never finishes
        var info = await peer.MountInfoAsync(target);
        if (wholeImage)
            Assert.Equal(info.ChunkCount, info.ChunksCached);
        else
            Assert.True(info.ChunksCached >= 3 && info.ChunksCached < info.ChunkCount, $"the table lists start.bin's 3 chunks only; cached {info.ChunksCached} of {info.ChunkCount}");
        await server.StopAsync();

        Assert.Equal(listed, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "app/start.bin")));
        var otherRead = await ProcessRunner.RunAsync("cat", [Path.Combine(mountPoint, "data/other.bin")], TimeSpan.FromSeconds(90));
        if (wholeImage)
            Assert.Equal(0, otherRead.ExitCode);
        else
            Assert.Contains("Input/output error", otherRead.Stderr); // not prefetched, and the registry is gone
    }
}
