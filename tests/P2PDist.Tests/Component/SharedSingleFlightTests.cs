using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// Two mounted images that share chunks, in-process with one node-wide single flight: a chunk both read at
/// once is fetched once, and when the mount whose fetch the other joined closes, the other still gets its bytes.
/// </summary>
public sealed class SharedSingleFlightTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    // The same seed: the two images hold the same chunks (like two tags of one base), in blobs of their own.
    private readonly InProcessImage _imageA = InProcessImage.Build(fileCount: 1, chunksPerFile: 4, seed: 950);
    private readonly InProcessImage _imageB = InProcessImage.Build(fileCount: 1, chunksPerFile: 4, seed: 950);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("shared-flight"));
    private readonly InFlightChunks _node = new();
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FakeOrigin _origin;

    public SharedSingleFlightTests()
    {
        _origin = new FakeOrigin(_imageA.Blob) { Fault = async (_, _) => { _entered.TrySetResult(); await _release.Task; } };
    }

    private ChunkProvider Mount(InProcessImage image) => new(image.Bootstrap, _cache, _origin, 0, _ => { }, inFlight: _node);

    private static async Task<byte[]> ReadAsync(ChunkProvider provider, uint chunkIndex)
    {
        var buffer = new byte[InProcessImage.ChunkSize];
        await provider.CopyAsync(chunkIndex, 0, buffer, 0, CancellationToken.None).AsTask().WaitAsync(Bound);
        return buffer;
    }

    [Fact]
    public async Task AChunkTwoImagesReadAtOnce_IsFetchedOnce()
    {
        using var a = Mount(_imageA);
        using var b = Mount(_imageB);
        var readA = ReadAsync(a, 2);
        await _entered.Task.WaitAsync(Bound);
        var readB = ReadAsync(b, 2);
        Assert.Equal(1, b.Misses); // a read joins (or begins) its fetch before its first await: B has joined A's
        _release.SetResult();
        Assert.Equal(_imageA.ChunkBytes(2), await readA);
        Assert.Equal(_imageB.ChunkBytes(2), await readB);
        Assert.Equal(1, _origin.Calls);
    }

    [Fact]
    public async Task TheMountWhoseFetchWasJoinedCloses_TheOtherFetchesItself_AndGetsItsBytes()
    {
        var a = Mount(_imageA);
        using var b = Mount(_imageB);
        var readA = ReadAsync(a, 1);
        await _entered.Task.WaitAsync(Bound);
        var readB = ReadAsync(b, 1);
        Assert.Equal(1, b.Misses);
        await a.DrainAsync().WaitAsync(Bound); // A unmounts: its fetch ends with a cancellation
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => readA);
        _release.SetResult();
        Assert.Equal(_imageB.ChunkBytes(1), await readB);
        Assert.Equal(2, _origin.Calls);
        Assert.Equal(0, _node.Count);
        a.Dispose();
    }

    public void Dispose()
    {
        _imageA.Dispose();
        _imageB.Dispose();
    }
}
