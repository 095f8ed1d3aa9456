namespace P2PDist.Peer.P2P;

/// <summary>
/// Limits what this peer gives to others: at most <c>slots</c> uploads at once (a request beyond that is
/// refused at once, so the requester moves to another holder instead of queueing here), and, when a rate is
/// set, a token bucket shared by all uploads that paces them to that many bytes per second.
/// </summary>
public sealed class UploadLimiter(int slots, long bytesPerSecond, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly object _bucketLock = new();
    private int _active;
    private double _tokens;
    private long _lastRefill = (clock ?? TimeProvider.System).GetTimestamp();

    public int Slots => slots;
    public long BytesPerSecond => bytesPerSecond;
    public int Active => Volatile.Read(ref _active);

    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _active) <= slots)
            return true;
        Interlocked.Decrement(ref _active);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _active);

    /// <summary>Waits until <paramref name="bytes"/> may be sent. The bucket holds at most 100 ms of rate, so a burst stays short.</summary>
    public async ValueTask PaceAsync(int bytes, CancellationToken cancellationToken)
    {
        if (bytesPerSecond <= 0)
            return;
        TimeSpan wait;
        lock (_bucketLock)
        {
            long now = _clock.GetTimestamp();
            _tokens = Math.Min(bytesPerSecond / 10.0, _tokens + _clock.GetElapsedTime(_lastRefill, now).TotalSeconds * bytesPerSecond);
            _lastRefill = now;
            _tokens -= bytes; // may go negative: the debt is the wait
            wait = _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / bytesPerSecond);
        }
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait, _clock, cancellationToken).ConfigureAwait(false);
    }
}
