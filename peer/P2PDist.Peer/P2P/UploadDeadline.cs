namespace P2PDist.Peer.P2P;

/// <summary>
/// The time budget of one upload, spent only while a write to the client is pending (waiting on our own rate
/// limit does not count): a client that reads too slowly has <see cref="Token"/> cancelled.
/// </summary>
internal sealed class UploadDeadline : IDisposable
{
    // The budget's own timer, apart from the request's abort: Kestrel answers a cancelled write by aborting the
    // connection, so by the time the write throws the request looks aborted too, and only this says who began it.
    private readonly CancellationTokenSource _budget;
    private readonly CancellationTokenSource _cancel;
    private readonly TimeProvider _clock;
    private TimeSpan _left;

    public UploadDeadline(TimeSpan budget, CancellationToken aborted, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        _left = budget;
        _budget = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _clock);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(aborted, _budget.Token);
    }

    public CancellationToken Token => _cancel.Token;

    /// <summary>True once the client has used up its budget (as opposed to going away by itself).</summary>
    public bool Expired => _budget.IsCancellationRequested;

    /// <summary>The budget runs until the returned scope ends.</summary>
    public Scope Running()
    {
        _budget.CancelAfter(_left > TimeSpan.Zero ? _left : TimeSpan.Zero);
        return new Scope(this, _clock.GetTimestamp());
    }

    public readonly struct Scope(UploadDeadline owner, long started) : IDisposable
    {
        public void Dispose()
        {
            owner._left -= owner._clock.GetElapsedTime(started);
            if (!owner._budget.IsCancellationRequested)
                owner._budget.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose()
    {
        _cancel.Dispose();
        _budget.Dispose();
    }
}
