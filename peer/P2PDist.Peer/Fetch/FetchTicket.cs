namespace P2PDist.Peer.Fetch;

/// <summary>Who is waiting for a fetch, which decides its place in the origin queue.</summary>
public enum FetchPriority
{
    /// <summary>A FUSE read is blocked on the chunk now.</summary>
    Reader = 0,
    /// <summary>The image's prefetch list (what its start-up will read next).</summary>
    Prefetch = 1,
    /// <summary>The whole-image fetch: nobody asked for these bytes yet.</summary>
    Background = 2,
}

/// <summary>One fetch's place in the <see cref="FetchScheduler"/>: its priority, raised when a more urgent caller joins it.</summary>
public sealed class FetchTicket
{
    internal FetchTicket(FetchPriority priority) => Priority = priority;

    /// <summary>Changed only under the scheduler's lock.</summary>
    public FetchPriority Priority { get; internal set; }
    internal LinkedListNode<FetchTicket>? Queued;
    internal TaskCompletionSource? Admission;
    internal FetchPriority AdmittedAs;
}

/// <summary>An admitted origin request: disposing it gives the slot back (once).</summary>
public sealed class OriginSlot : IDisposable
{
    private FetchScheduler? _scheduler;
    private readonly FetchPriority _admittedAs;

    internal OriginSlot(FetchScheduler scheduler, FetchPriority admittedAs)
    {
        _scheduler = scheduler;
        _admittedAs = admittedAs;
    }

    public FetchPriority AdmittedAs => _admittedAs;

    public void Dispose() => Interlocked.Exchange(ref _scheduler, null)?.Release(_admittedAs);
}
