using System.Text.RegularExpressions;
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

        await Task.Delay(500); // the registry logs each request after answering it
        // Access-log lines: "GET /v2/merge/blobs/sha256:... HTTP/1.1" 206 BYTES
        var ranged = File.ReadLines(server.LogPath)
            .Select(l => Regex.Match(l, @"""GET /v2/merge/blobs/\S+ HTTP/1\.1"" 206 (\d+)"))
            .Where(m => m.Success)
            .Select(m => long.Parse(m.Groups[1].Value))
            .ToList();
        // No chunk is fetched twice, however many readers wanted it.
        Assert.Equal(6L << 20, ranged.Sum());
        // Default merge size 2 MiB: six 1 MiB chunks take three requests when one reader leads; concurrent
        // readers may start a run at a chunk whose neighbour is already in flight, so allow one more.
        Assert.InRange(ranged.Count, 3, 4);
    }
}
