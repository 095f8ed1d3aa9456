namespace P2PDist.Supernode;

/// <summary>
/// A registered peer as the supernode knows it: where it serves, its labels, the load signals that rank it
/// as a holder, and what keeps it honest (its request budget, the holders recently handed to it, the reports
/// against it, its election leases). Mutated only under the <see cref="SchedulerIndex"/> lock.
/// </summary>
internal sealed class PeerState(string id, string address, IReadOnlyDictionary<string, string> labels, long uploadCapacity, int uploadSlots)
{
    /// <summary>Assumed upload rate of a peer that declared none and was never measured (100 Mbit/s).</summary>
    private const double DefaultBytesPerSecond = 12.5e6;

    public string Id { get; } = id;
    public string Address { get; } = address;
    public IReadOnlyDictionary<string, string> Labels { get; } = labels;
    public string? Zone { get; } = labels.GetValueOrDefault("zone");
    public long UploadCapacity { get; } = uploadCapacity;
    public int UploadSlots { get; } = uploadSlots > 0 ? uploadSlots : 8;
    public DateTime LastSeen { get; set; }

    /// <summary>Blobs this peer holds chunks of, so dropping the peer touches only those.</summary>
    public HashSet<string> Blobs { get; } = new(StringComparer.Ordinal);

    /// <summary>Runs over all of its holder sets: the memory it costs (bounded by <see cref="SchedulerLimits.MaxRunsPerPeer"/>).</summary>
    public int Runs { get; set; }

    /// <summary>Uploads the peer said it was serving in its last announcement.</summary>
    public int ReportedUploads { get; set; }

    /// <summary>Times this peer was ranked first since its last announcement: uploads it is probably about to serve.</summary>
    public int AssignedSinceReport { get; set; }

    /// <summary>Moving average of the rates other peers measured fetching from this one (bytes/s); 0 until measured.</summary>
    public double MeasuredBytesPerSecond { get; private set; }

    public int RecentTimeouts { get; set; }

    /// <summary>The requests this peer may still make (set at registration).</summary>
    public TokenBucket? Requests { get; set; }

    /// <summary>Holders handed to this peer as a requester, and until when it may report or measure them.</summary>
    public Dictionary<string, DateTime> HandedOut { get; } = new(StringComparer.Ordinal);
    public DateTime HandoutsPruned { get; set; }

    /// <summary>Reports against this peer: reporter → when, and whether for a bad digest.</summary>
    public Dictionary<string, (DateTime At, bool BadDigest)> ReportsAgainst { get; } = new(StringComparer.Ordinal);

    /// <summary>Chunks this peer is elected to fetch from the origin.</summary>
    public HashSet<(string Blob, uint Ordinal)> Leases { get; } = [];

    /// <summary>When it last announced chunks it had not held: the progress that keeps its leases renewable.</summary>
    public DateTime LastProgress { get; set; }

    /// <summary>Leases that ran out without the chunk being announced, since its last fulfilled one.</summary>
    public int ExpiredLeases { get; set; }

    /// <summary>Until then it may hold only a few leases (it let too many run out).</summary>
    public DateTime DemotedUntil { get; set; }

    public void AddSample(double bytesPerSecond, double max)
    {
        bytesPerSecond = Math.Min(bytesPerSecond, max);
        MeasuredBytesPerSecond = MeasuredBytesPerSecond == 0 ? bytesPerSecond : 0.8 * MeasuredBytesPerSecond + 0.2 * bytesPerSecond;
    }

    /// <summary>
    /// Expected time for this peer to serve one more chunk, in relative units: the uploads ahead of it over its
    /// rate, doubled for each recent timeout. The declared capacity is a hint, clamped to
    /// <paramref name="maxRate"/> and bounded by what requesters measured once they have (H1: a peer that
    /// declares an infinite capacity does not rank first everywhere).
    /// </summary>
    public double Cost(double maxRate = 1.25e9)
    {
        double declared = UploadCapacity > 0 ? Math.Min(UploadCapacity, maxRate) : double.PositiveInfinity;
        double measured = MeasuredBytesPerSecond > 0 ? MeasuredBytesPerSecond : double.PositiveInfinity;
        double rate = Math.Min(declared, measured);
        if (double.IsPositiveInfinity(rate))
            rate = DefaultBytesPerSecond;
        double waiting = ReportedUploads + AssignedSinceReport + 1;
        if (waiting > UploadSlots)
            waiting *= 4; // past its slots it answers 503: try it last
        return waiting / rate * (1 << Math.Min(RecentTimeouts, 8));
    }
}
