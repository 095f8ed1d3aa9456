using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer;
using P2PDist.Peer.Cache;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// Bytes by source through the real read path: a cold read is counted once as fetched from the origin, the same
/// read again once as answered by the cache, and container read bytes are their sum; none is counted twice.
/// </summary>
public sealed class FetchMetricsTests : IDisposable
{
    private const int ChunksPerFile = 4;
    private static readonly int Chunk = (int)InProcessImage.ChunkSize;
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 1, chunksPerFile: ChunksPerFile, seed: 1201);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("fetch-metrics"));

    [Fact]
    public async Task AColdReadThenAWarmRead_AreCountedOnceEach_ByTheirSource()
    {
        var metrics = new PeerMetrics(0);
        using var provider = new ChunkProvider(_image.Bootstrap, _cache, new FakeOrigin(_image.Blob), 0, _ => { }, metrics: metrics.Fetch);
        var fs = new RafsFileSystem(_image.Bootstrap, provider, null, TimeSpan.FromSeconds(30), NullLogger.Instance, metrics: metrics.Reads);
        ulong node = _image.Bootstrap.LookupPath("/f0");
        var buffer = new byte[Chunk];

        Assert.Equal(Chunk, fs.Read(node, 0, buffer, CancellationToken.None));
        Assert.Equal(1, metrics.Fetch.FetchedChunks.WithLabels("origin").Value);
        Assert.Equal(0, metrics.Fetch.CacheReadBytes.Value);

        Assert.Equal(Chunk, fs.Read(node, 0, buffer, CancellationToken.None));
        Assert.Equal(1, metrics.Fetch.FetchedChunks.WithLabels("origin").Value); // not fetched again
        Assert.Equal(Chunk, metrics.Fetch.CacheReadBytes.Value);
        Assert.Equal(2 * Chunk, metrics.Reads.ReadBytes.Value);
        Assert.Equal(0, metrics.Fetch.FetchedChunks.WithLabels("peer").Value);

        // The cache's own figures, read when Prometheus scrapes: the chunk files stored by the cold read.
        metrics.RefreshBeforeScrape(() => _cache, () => 1, () => 0);
        using var page = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(page);
        string text = System.Text.Encoding.UTF8.GetString(page.ToArray());
        Assert.Equal(_cache.EntryCount, MetricsScrape.Value(text, "p2pdist_peer_cache_entries"));
        Assert.True(_cache.EntryCount >= 1);
        Assert.Equal(1, MetricsScrape.Value(text, "p2pdist_peer_cache_hits_total"));
        Assert.Equal(1, MetricsScrape.Value(text, "p2pdist_peer_mounts"));
    }

    public void Dispose() => _image.Dispose();
}
