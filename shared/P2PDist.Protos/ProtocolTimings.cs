namespace P2PDist.Protos.Scheduler;

/// <summary>
/// Every timing of the control-plane protocol, in one type that the supernode and the peer both use, so the
/// two sides cannot disagree: how often a peer beats and when the supernode gives up on it, how long an
/// origin-election lease lasts and how often its holder renews it, how long a reader waits for an elected
/// peer. The relations between them (a peer misses several beats before it expires; a reader waits longer
/// than a lease, so a dead elected peer's lease runs out first) are checked in <see cref="Validate"/>.
/// The supernode sends its heartbeat interval and lease in <c>RegisterResponse</c>; the peer follows them.
/// </summary>
public sealed record ProtocolTimings
{
    public static ProtocolTimings Default { get; } = new();

    /// <summary>A peer with nothing new to announce sends an empty announcement this often.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A peer silent this long is dropped with its holdings (three missed heartbeats by default).</summary>
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the supernode looks for silent peers and expired leases.</summary>
    public TimeSpan ExpiryScan { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Changes a peer collects before announcing them in one message.</summary>
    public TimeSpan AnnounceBatch { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>After a failed announcement the peer waits this long, doubling per failure up to <see cref="RetryBackoffMax"/>.</summary>
    public TimeSpan RetryBackoffMin { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan RetryBackoffMax { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an elected peer may fetch an unheld chunk from the origin before another is elected.</summary>
    public TimeSpan OriginLease { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long renewals keep a lease alive while its holder announces nothing at all: a fetch that makes
    /// progress announces chunks; a squatter that only renews loses its leases after this.
    /// </summary>
    public TimeSpan OriginLeaseWithoutProgress { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a peer fetching from the origin renews its leases: well inside one lease.</summary>
    public TimeSpan LeaseRenewal => OriginLease / 2.5;

    /// <summary>How long a peer reported by enough reporters is left out of holder lists.</summary>
    public TimeSpan BlockFor { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a report counts towards blocking, and how long a holder handed to a requester may be reported by it.</summary>
    public TimeSpan ReportWindow { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Deadline of every call to a supernode (gRPC compares it with the system clock).</summary>
    public TimeSpan CallDeadline { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Connect timeout to a supernode or another peer.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How often a reader asks again while another peer fetches a chunk from the origin.</summary>
    public TimeSpan OtherFetcherPoll { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a reader waits for an elected peer before fetching the chunk itself.</summary>
    public TimeSpan WaitForOtherFetcher { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>The same for a background prefetch, which no reader waits on.</summary>
    public TimeSpan BackgroundWaitForOtherFetcher { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How often a reader tries again when every holder was busy, and for how long.</summary>
    public TimeSpan BusyHolderRetry { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan WaitForBusyHolders { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>These timings with the values a supernode sent at registration (zero or absent: keep ours).</summary>
    public ProtocolTimings FollowSupernode(RegisterResponse reply)
    {
        var timings = this;
        if (reply.HeartbeatIntervalMs > 0)
            timings = timings with { HeartbeatInterval = Clamp(TimeSpan.FromMilliseconds(reply.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)) };
        if (reply.OriginLeaseMs > 0)
            timings = timings with { OriginLease = Clamp(TimeSpan.FromMilliseconds(reply.OriginLeaseMs), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)) };
        return timings;
    }

    /// <summary>What a supernode tells a registering peer.</summary>
    public RegisterResponse ToRegisterResponse() => new()
    {
        HeartbeatIntervalMs = (int)HeartbeatInterval.TotalMilliseconds,
        OriginLeaseMs = (int)OriginLease.TotalMilliseconds,
    };

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;

    /// <summary>Refuses timings whose relations would break the protocol, naming the pair.</summary>
    public void Validate()
    {
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(PeerTimeout, nameof(PeerTimeout));
        Positive(ExpiryScan, nameof(ExpiryScan));
        Positive(AnnounceBatch, nameof(AnnounceBatch));
        Positive(RetryBackoffMin, nameof(RetryBackoffMin));
        Positive(OriginLease, nameof(OriginLease));
        Positive(CallDeadline, nameof(CallDeadline));
        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(OtherFetcherPoll, nameof(OtherFetcherPoll));
        Positive(BusyHolderRetry, nameof(BusyHolderRetry));
        if (PeerTimeout < 2 * HeartbeatInterval)
            throw new ArgumentException($"peer timeout {PeerTimeout} must be at least two heartbeats ({HeartbeatInterval} each)");
        if (AnnounceBatch > HeartbeatInterval)
            throw new ArgumentException($"announce batching {AnnounceBatch} must not exceed the heartbeat interval {HeartbeatInterval}");
        if (RetryBackoffMax < RetryBackoffMin)
            throw new ArgumentException($"retry back-off maximum {RetryBackoffMax} is below its minimum {RetryBackoffMin}");
        if (OriginLeaseWithoutProgress < OriginLease)
            throw new ArgumentException($"a lease without progress ({OriginLeaseWithoutProgress}) must last at least one lease ({OriginLease})");
        if (WaitForOtherFetcher <= OriginLease)
            throw new ArgumentException($"a reader's wait for the elected peer ({WaitForOtherFetcher}) must outlast its lease ({OriginLease})");
        if (BackgroundWaitForOtherFetcher < WaitForOtherFetcher)
            throw new ArgumentException($"the background wait ({BackgroundWaitForOtherFetcher}) must not be shorter than a reader's ({WaitForOtherFetcher})");
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
            throw new ArgumentException($"{name} {value} must be positive");
    }
}
