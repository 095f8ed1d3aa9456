namespace P2PDist.Supernode;

/// <summary>A request-rate limit: <c>rate</c> tokens per second, saved up to <c>burst</c>, on an injected clock.</summary>
internal sealed class TokenBucket
{
    private readonly object _lock = new();
    private readonly double _rate, _burst;
    private readonly TimeProvider _clock;
    private double _tokens;
    private long _last;

    public TokenBucket(double rate, double burst, TimeProvider clock)
    {
        (_rate, _burst, _clock) = (rate, burst, clock);
        _tokens = burst;
        _last = clock.GetTimestamp();
    }

    public bool TryTake()
    {
        lock (_lock)
        {
            long now = _clock.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + _clock.GetElapsedTime(_last, now).TotalSeconds * _rate);
            _last = now;
            if (_tokens < 1)
                return false;
            _tokens -= 1;
            return true;
        }
    }
}
