using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// The prefetch table in-process: a listed file is fetched whole, in a few merged requests, and nothing of
/// the files after it in the blob comes along (an optimized image lists a start-up's files, not their neighbours).
/// </summary>
public sealed class PrefetchTableTests : IDisposable
{
    private const int ChunksPerFile = 8;
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 3, chunksPerFile: ChunksPerFile, seed: 990, prefetchPaths: ["/f1"]);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("prefetch-table"));

    [Fact]
    public async Task AListedFile_IsFetchedWhole_AndNothingAfterIt()
    {
        var origin = new FakeOrigin(_image.Blob);
        // A merge size that could take every chunk of the image in one request.
        using var provider = new ChunkProvider(_image.Bootstrap, _cache, origin, 3 * ChunksPerFile * (int)InProcessImage.ChunkSize, _ => { });
        using var prefetch = Prefetcher.Start(_image.Bootstrap, provider, wholeImage: false, concurrency: 1, NullLogger.Instance);
        await prefetch.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(SpinWait.SpinUntil(() => provider.FetchesInFlight == 0, TimeSpan.FromSeconds(20)));
        var cached = Enumerable.Range(0, 3 * ChunksPerFile).Where(c => provider.IsCached((uint)c)).ToList();
        Assert.Equal(Enumerable.Range(ChunksPerFile, ChunksPerFile), cached); // f1's chunks, neither f0's nor f2's
        Assert.InRange(origin.Calls, 1, Prefetcher.TableConcurrency);
        Assert.Equal(ChunksPerFile, prefetch.Progress.Planned);
        Assert.Equal(ChunksPerFile, prefetch.Progress.Warmed);
    }

    [Fact]
    public async Task TheWholeImage_IsPlannedAndCounted_WithChunksAlreadyCachedCountedPresent()
    {
        var origin = new FakeOrigin(_image.Blob);
        using var provider = new ChunkProvider(_image.Bootstrap, _cache, origin, 0, _ => { });
        await provider.WarmAloneAsync(0, CancellationToken.None); // cached before the mount's prefetch
        using var prefetch = Prefetcher.Start(_image.Bootstrap, provider, wholeImage: true, concurrency: 2, NullLogger.Instance);
        await prefetch.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(3 * ChunksPerFile, prefetch.Progress.Planned);
        Assert.Equal(3 * ChunksPerFile, prefetch.Progress.Warmed);
    }

    public void Dispose() => _image.Dispose();
}
