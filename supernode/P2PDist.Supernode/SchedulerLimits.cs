namespace P2PDist.Supernode;

/// <summary>
/// The budgets that keep one client (hostile or buggy) from exhausting the supernode's memory, CPU or
/// fairness: per message, per peer and in total. A message over a budget is refused whole with
/// InvalidArgument naming the budget; nothing of it is applied.
/// </summary>
internal sealed record SchedulerLimits
{
    public static SchedulerLimits Default { get; } = new();

    /// <summary>Chunks per blob: ordinals are below this.</summary>
    public const uint MaxOrdinal = 1 << 24;

    /// <summary>Ranges in one <c>OrdinalRanges</c> entry.</summary>
    public int MaxRangesPerEntry { get; init; } = 1 << 16;

    /// <summary>Entries (blobs added plus blobs removed) in one announcement.</summary>
    public int MaxEntriesPerAnnounce { get; init; } = 4096;

    /// <summary>Ranges over all entries of one announcement.</summary>
    public int MaxRangesPerAnnounce { get; init; } = 1 << 18;

    /// <summary>Ordinals (the sum of lengths) over all entries of one announcement.</summary>
    public long MaxOrdinalsPerAnnounce { get; init; } = 1L << 28;

    /// <summary>Transfer samples in one announcement.</summary>
    public int MaxTransfersPerAnnounce { get; init; } = 4096;

    /// <summary>Ordinals in one holder query.</summary>
    public int MaxOrdinalsPerQuery { get; init; } = 4096;

    /// <summary>Blobs one peer may hold chunks of.</summary>
    public int MaxBlobsPerPeer { get; init; } = 4096;

    /// <summary>Runs in one (blob, holder) set: what its memory costs.</summary>
    public int MaxRunsPerSet { get; init; } = 1 << 16;

    /// <summary>Runs over all of one peer's sets (8 bytes each).</summary>
    public int MaxRunsPerPeer { get; init; } = 1 << 18;

    /// <summary>Registered peers; a new id past this is refused until others expire.</summary>
    public int MaxPeers { get; init; } = 20_000;

    /// <summary>Origin-election leases one peer may hold at once.</summary>
    public int MaxLeasesPerPeer { get; init; } = 1024;

    /// <summary>Leases that ran out without the chunk being announced before a peer is demoted.</summary>
    public int ExpiredLeasesBeforeDemotion { get; init; } = 16;

    /// <summary>Leases a demoted peer may hold at once (for <c>ProtocolTimings.BlockFor</c>).</summary>
    public int LeasesWhileDemoted { get; init; } = 2;

    /// <summary>Distinct reporters whose reports block a peer.</summary>
    public int ReportersBeforeBlock { get; init; } = 2;

    /// <summary>Holders remembered per requester as handed to it (only those may be reported or measured by it).</summary>
    public int MaxHandoutsPerPeer { get; init; } = 512;

    /// <summary>A declared or measured upload rate is believed up to this (10 Gbit/s).</summary>
    public double MaxUploadBytesPerSecond { get; init; } = 1.25e9;

    /// <summary>Requests per second per registered peer (token bucket), and the burst it may save up.</summary>
    public double RequestsPerSecond { get; init; } = 1000;
    public double RequestBurst { get; init; } = 2000;

    /// <summary>Registrations per second over all callers, and the burst (a whole cluster re-registering after a restart).</summary>
    public double RegistrationsPerSecond { get; init; } = 200;
    public double RegistrationBurst { get; init; } = 5000;

    /// <summary>Accept loopback addresses at registration (tests and a one-machine cluster use them).</summary>
    public bool AllowLoopbackAddresses { get; init; } = true;
}
