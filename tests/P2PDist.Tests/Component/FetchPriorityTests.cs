using Microsoft.Extensions.Time.Testing;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// The origin queue through the chunk provider, in-process with a gated fake origin and fake time: an
/// on-demand read overtakes queued background fetches, a reader that joins a queued background fetch of its
/// chunk is not left behind the rest, and background work waits until reads pause. Every read gets its bytes.
/// </summary>
public sealed class FetchPriorityTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 1, chunksPerFile: 8, seed: 1100);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("fetch-priority"));
    private readonly FakeTimeProvider _time = new();
    private readonly FetchScheduler _scheduler;
    private readonly FakeOrigin _origin;
    private readonly TaskCompletionSource _firstEntered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _releaseFirst = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ChunkProvider _provider;

    public FetchPriorityTests()
    {
        // One origin request at a time makes the order of the origin's calls the order of admission.
        _scheduler = new FetchScheduler(slots: 1, nonReaderSlots: 1, backgroundSlots: 1, readerQuiet: Quiet, time: _time);
        _origin = new FakeOrigin(_image.Blob)
        {
            Fault = async (call, _) =>
            {
                if (call != 1)
                    return;
                _firstEntered.SetResult();
                await _releaseFirst.Task;
            },
        };
        _provider = new ChunkProvider(_image.Bootstrap, _cache, _origin, 0, _ => { }, time: _time, scheduler: _scheduler);
    }

    private uint ChunkAt(ulong offset) => (uint)(offset / InProcessImage.ChunkSize);

    private async Task<byte[]> ReadAsync(uint chunkIndex)
    {
        var buffer = new byte[InProcessImage.ChunkSize];
        await _provider.CopyAsync(chunkIndex, 0, buffer, 0, CancellationToken.None).AsTask().WaitAsync(Bound);
        return buffer;
    }

    private Task WaitingAsync(FetchPriority priority, int count) =>
        Eventually.Async(() => Task.FromResult(_scheduler.Waiting(priority) == count), Bound, $"{count} {priority} request(s) queued",
            () => $"reader {_scheduler.Waiting(FetchPriority.Reader)}, prefetch {_scheduler.Waiting(FetchPriority.Prefetch)}, background {_scheduler.Waiting(FetchPriority.Background)}");

    [Fact]
    public async Task AnOnDemandRead_OvertakesQueuedBackgroundFetches_WhichResumeWhenReadsPause()
    {
        var running = _provider.WarmAloneAsync(0, CancellationToken.None);
        await _firstEntered.Task.WaitAsync(Bound);
        var queued = new[] { 5u, 6u }.Select(c => _provider.WarmAloneAsync(c, CancellationToken.None)).ToList();
        await WaitingAsync(FetchPriority.Background, 2);
        var read = ReadAsync(3);
        await WaitingAsync(FetchPriority.Reader, 1);

        _releaseFirst.SetResult();
        Assert.Equal(_image.ChunkBytes(3), await read);
        await running.WaitAsync(Bound);
        Assert.Equal([0u, 3u], _origin.Offsets.Select(ChunkAt));
        Assert.All(queued, warm => Assert.False(warm.IsCompleted)); // paused: a reader fetched just now

        _time.Advance(Quiet);
        await Task.WhenAll(queued).WaitAsync(Bound);
        Assert.Equal([0u, 3u, 5u, 6u], _origin.Offsets.Select(ChunkAt));
    }

    [Fact]
    public async Task AReaderJoiningAQueuedBackgroundFetch_IsServedBeforeTheOtherBackgroundWork()
    {
        var running = _provider.WarmAloneAsync(0, CancellationToken.None);
        await _firstEntered.Task.WaitAsync(Bound);
        var ahead = _provider.WarmAloneAsync(4, CancellationToken.None);
        await WaitingAsync(FetchPriority.Background, 1);
        var wanted = _provider.WarmAloneAsync(7, CancellationToken.None);
        await WaitingAsync(FetchPriority.Background, 2);

        var read = ReadAsync(7); // joins the queued fetch of chunk 7 (single flight) and raises it
        await WaitingAsync(FetchPriority.Reader, 1);
        Assert.Equal(1, _provider.Misses);
        _releaseFirst.SetResult();
        Assert.Equal(_image.ChunkBytes(7), await read);
        await Task.WhenAll(running, wanted).WaitAsync(Bound);
        Assert.Equal([0u, 7u], _origin.Offsets.Select(ChunkAt));
        Assert.False(ahead.IsCompleted);

        _time.Advance(Quiet);
        await ahead.WaitAsync(Bound);
        Assert.Equal(3, _origin.Calls); // chunk 7 was fetched once, for both its waiters
    }

    public void Dispose()
    {
        _provider.Dispose();
        _scheduler.Dispose();
        _image.Dispose();
    }
}
