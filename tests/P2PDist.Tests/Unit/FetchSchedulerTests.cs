using Microsoft.Extensions.Time.Testing;
using P2PDist.Peer.Fetch;
using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

/// <summary>
/// The node's origin queue on fake time: readers go first, some slots are always left for them, background
/// work pauses while reads go on and resumes after the quiet period, and a reader that joins a queued fetch
/// raises it.
/// </summary>
public sealed class FetchSchedulerTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);
    private readonly FakeTimeProvider _time = new();

    private FetchScheduler Scheduler(int slots, int nonReader, int background) => new(slots, nonReader, background, Quiet, _time);

    private static Task<OriginSlot> Admit(FetchScheduler scheduler, FetchTicket ticket, CancellationToken cancellationToken = default) =>
        scheduler.AdmitAsync(ticket, cancellationToken).AsTask();

    [Fact]
    public async Task AReader_OvertakesQueuedPrefetchAndBackgroundRequests()
    {
        using var scheduler = Scheduler(slots: 1, nonReader: 1, background: 1);
        var first = await Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background)).WaitAsync(Bound);
        var background = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background));
        var prefetch = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Prefetch));
        var reader = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader));
        Assert.False(reader.IsCompleted);

        first.Dispose();
        using (await reader.WaitAsync(Bound))
            Assert.False(prefetch.IsCompleted || background.IsCompleted);
        using (await prefetch.WaitAsync(Bound))
            Assert.False(background.IsCompleted);
        // The reader ended just now: the background request waits out the quiet period, on the scheduler's clock.
        Assert.False(background.IsCompleted);
        _time.Advance(Quiet);
        (await background.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task BackgroundWork_PausesWhileAReaderFetches_AndResumesAfterTheQuietPeriod()
    {
        using var scheduler = Scheduler(slots: 8, nonReader: 4, background: 2);
        var reader = await Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader)).WaitAsync(Bound);
        var background = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background));
        _time.Advance(Quiet * 4);
        Assert.False(background.IsCompleted); // free slots, but a reader's request runs
        Assert.Equal(1, scheduler.Waiting(FetchPriority.Background));

        reader.Dispose();
        _time.Advance(Quiet - TimeSpan.FromMilliseconds(1));
        Assert.False(background.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var admitted = await background.WaitAsync(Bound);
        Assert.Equal(FetchPriority.Background, admitted.AdmittedAs);
        Assert.Equal(1, scheduler.Running(FetchPriority.Background));
        admitted.Dispose();
        Assert.Equal(0, scheduler.Running(FetchPriority.Background));
    }

    [Fact]
    public async Task BackgroundRequests_AreCappedAtTheirSlots_EvenWhenTheLinkIsIdle()
    {
        using var scheduler = Scheduler(slots: 8, nonReader: 4, background: 2);
        var admitted = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background)))).WaitAsync(Bound);
        var third = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background));
        Assert.False(third.IsCompleted);
        admitted[0].Dispose();
        (await third.WaitAsync(Bound)).Dispose();
        admitted[1].Dispose();
    }

    [Fact]
    public async Task PrefetchAndBackground_LeaveSlotsForReaders()
    {
        using var scheduler = Scheduler(slots: 3, nonReader: 2, background: 1);
        var prefetches = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Prefetch)))).WaitAsync(Bound);
        var thirdPrefetch = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Prefetch));
        Assert.False(thirdPrefetch.IsCompleted);
        using (await Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader)).WaitAsync(Bound))
            Assert.False(thirdPrefetch.IsCompleted);
        prefetches[0].Dispose();
        (await thirdPrefetch.WaitAsync(Bound)).Dispose();
        prefetches[1].Dispose();
    }

    [Fact]
    public async Task AReaderJoiningAQueuedBackgroundFetch_PromotesIt_AheadOfTheOtherBackgroundWork()
    {
        using var scheduler = Scheduler(slots: 1, nonReader: 1, background: 1);
        var digest = ChunkDigest.Compute(DigestAlgorithm.Blake3, "the chunk a reader wants"u8);
        var running = await Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background)).WaitAsync(Bound);
        var other = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Background));
        var wanted = FetchScheduler.NewTicket(FetchPriority.Background);
        scheduler.Track(digest, wanted);
        var joined = Admit(scheduler, wanted);

        scheduler.Promote(digest, FetchPriority.Reader);
        Assert.Equal(FetchPriority.Reader, wanted.Priority);
        running.Dispose();
        var slot = await joined.WaitAsync(Bound); // no quiet period for it: it is a reader's fetch now
        Assert.Equal(FetchPriority.Reader, slot.AdmittedAs);
        Assert.False(other.IsCompleted);
        slot.Dispose();
        _time.Advance(Quiet);
        (await other.WaitAsync(Bound)).Dispose();

        scheduler.Untrack(digest, wanted);
        scheduler.Promote(digest, FetchPriority.Reader); // nothing tracked: no effect, no error
    }

    [Fact]
    public async Task ACancelledWait_LeavesTheQueue_AndTakesNoSlot()
    {
        using var scheduler = Scheduler(slots: 1, nonReader: 1, background: 1);
        var running = await Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader)).WaitAsync(Bound);
        using var cancel = new CancellationTokenSource();
        var abandoned = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader), cancel.Token);
        var next = Admit(scheduler, FetchScheduler.NewTicket(FetchPriority.Reader));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(Bound));
        Assert.Equal(1, scheduler.Waiting(FetchPriority.Reader));
        running.Dispose();
        var slot = await next.WaitAsync(Bound);
        Assert.Equal(1, scheduler.Running(FetchPriority.Reader));
        slot.Dispose();
        slot.Dispose(); // a second dispose gives nothing back twice
        Assert.Equal(0, scheduler.Running(FetchPriority.Reader));
    }
}
