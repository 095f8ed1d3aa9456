using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>How misses reach the origin: adjacent chunks merged into one request, concurrent readers sharing one fetch.</summary>
public sealed class PeerFetchTests
{
    [Fact]
    public async Task ConcurrentReaders_ShareFetches_AndAdjacentChunksAreMerged()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(6 << 20, 71); // random: stored uncompressed, 6 chunks of 1 MiB back to back
        string source = await new TestImage().Layer(w => w.File("data.bin", content)).PushAsync(server.Host, "merge", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/merge:rafs", "--plain-http");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync($"{server.Host}/merge:rafs");

        var readers = Enumerable.Range(0, 8).Select(_ => File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin"))).ToList();
        foreach (var reader in readers)
            Assert.Equal(content, await reader);

        // Every ranged blob GET the registry answered, exact once the reads are done (the proxy counts before it sends).
        var ranged = server.Exchanges.Where(e => e.IsBlobDownload("merge") && e.Status == 206).Select(e => e.BodyBytes).ToList();
        // No chunk is fetched twice, however many readers wanted it.
        Assert.Equal(6L << 20, ranged.Sum());
        // Default merge size 2 MiB: six 1 MiB chunks take three requests when one reader leads; concurrent
        // readers may start a run at a chunk whose neighbour is already in flight, so allow one more.
        Assert.InRange(ranged.Count, 3, 4);
    }
}
