namespace P2PDist.Supernode;

/// <summary>
/// A registered peer as the supernode knows it: where it serves, its labels, and the load signals that rank
/// it as a holder. Mutated only under the <see cref="SchedulerIndex"/> lock.
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

    /// <summary>Uploads the peer said it was serving in its last announcement.</summary>
    public int ReportedUploads { get; set; }

    /// <summary>Times this peer was ranked first since its last announcement: uploads it is probably about to serve.</summary>
    public int AssignedSinceReport { get; set; }

    /// <summary>Moving average of the rates other peers measured fetching from this one (bytes/s); 0 until measured.</summary>
    public double MeasuredBytesPerSecond { get; private set; }

    public int RecentTimeouts { get; set; }

    public void AddSample(double bytesPerSecond) =>
        MeasuredBytesPerSecond = MeasuredBytesPerSecond == 0 ? bytesPerSecond : 0.8 * MeasuredBytesPerSecond + 0.2 * bytesPerSecond;

    /// <summary>
    /// Expected time for this peer to serve one more chunk, in relative units: the uploads ahead of it over its
    /// rate (declared capacity, else measured, else a default), doubled for each recent timeout.
    /// </summary>
    public double Cost()
    {
        double rate = UploadCapacity > 0 ? UploadCapacity : MeasuredBytesPerSecond > 0 ? MeasuredBytesPerSecond : DefaultBytesPerSecond;
        double waiting = ReportedUploads + AssignedSinceReport + 1;
        if (waiting > UploadSlots)
            waiting *= 4; // past its slots it answers 503: try it last
        return waiting / rate * (1 << Math.Min(RecentTimeouts, 8));
    }
}
