namespace P2PDist.Peer.P2P;

/// <summary>
/// Limits what this peer gives to others: at most <c>slots</c> uploads at once (a request beyond that is
/// refused at once, so the requester moves to another holder instead of queueing here), and, when a rate is
/// set, a token bucket shared by all uploads that paces them to that many bytes per second. One client (a
/// peer's certificate name, or its address in --insecure mode) holds at most <see cref="SlotsPerClient"/>
/// of the slots, and an upload it reads slower than <see cref="MinClientBytesPerSecond"/> loses its slot
/// (review finding M3: one neighbour cannot hold them all).
/// </summary>
public sealed class UploadLimiter(int slots, long bytesPerSecond, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly object _bucketLock = new();
    private int _active;
    private double _tokens;
    private long _lastRefill = (clock ?? TimeProvider.System).GetTimestamp();

    private readonly Dictionary<string, int> _perClient = new(StringComparer.Ordinal);

    /// <summary>The slowest a client may read: an upload gets 2 s plus its size at this rate (time spent pacing to our own rate not counted).</summary>
    public long MinClientBytesPerSecond { get; init; } = 64 << 10;

    /// <summary>Half the slots: a requester with a whole-image prefetch fits, and another one always finds room.</summary>
    public int SlotsPerClient => Math.Max(1, slots / 2);

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

    /// <summary>A slot for <paramref name="client"/>, unless all are taken or that client holds its share already.</summary>
    public bool TryEnter(string client)
    {
        lock (_perClient)
        {
            int held = _perClient.GetValueOrDefault(client);
            if (held >= SlotsPerClient || !TryEnter())
                return false;
            _perClient[client] = held + 1;
            return true;
        }
    }

    public void Exit(string client)
    {
        lock (_perClient)
        {
            int held = _perClient.GetValueOrDefault(client) - 1;
            if (held > 0)
                _perClient[client] = held;
            else
                _perClient.Remove(client); // one entry per client with an upload under way, no more
            Exit();
        }
    }

    /// <summary>How long a client may take to read an upload of <paramref name="bytes"/>.</summary>
    public TimeSpan UploadDeadline(long bytes) => TimeSpan.FromSeconds(2 + (double)bytes / MinClientBytesPerSecond);

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
