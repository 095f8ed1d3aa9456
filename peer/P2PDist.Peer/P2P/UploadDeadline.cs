namespace P2PDist.Peer.P2P;

/// <summary>
/// The time budget of one upload, spent only while a write to the client is pending (waiting on our own rate
/// limit does not count): a client that reads too slowly has <see cref="Token"/> cancelled.
/// </summary>
internal sealed class UploadDeadline : IDisposable
{
    public static readonly Prometheus.Counter CutOff = Prometheus.Metrics.CreateCounter("p2pdist_peer_uploads_cut_off_total",
        "Uploads stopped because the client read slower than the minimum rate (its slot given back)");

    private readonly CancellationTokenSource _cancel;
    private readonly TimeProvider _clock;
    private TimeSpan _left;

    public UploadDeadline(TimeSpan budget, CancellationToken aborted, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        _left = budget;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(aborted);
    }

    public CancellationToken Token => _cancel.Token;

    /// <summary>The budget runs until the returned scope ends.</summary>
    public Scope Running()
    {
        _cancel.CancelAfter(_left > TimeSpan.Zero ? _left : TimeSpan.Zero);
        return new Scope(this, _clock.GetTimestamp());
    }

    public readonly struct Scope(UploadDeadline owner, long started) : IDisposable
    {
        public void Dispose()
        {
            owner._left -= owner._clock.GetElapsedTime(started);
            if (!owner._cancel.IsCancellationRequested)
                owner._cancel.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public void Dispose() => _cancel.Dispose();
}
