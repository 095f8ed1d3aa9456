using Prometheus;

namespace P2PDist.Peer.FileSystem;

/// <summary>What containers' reads through the mounts report: bytes read, reads waiting now, reads that failed.</summary>
public sealed class ReadMetrics(IMetricFactory create)
{
    public Counter ReadBytes { get; } = create.CreateCounter("p2pdist_peer_read_bytes_total", "Bytes containers read through the FUSE mounts");
    public Gauge ReadsInFlight { get; } = create.CreateGauge("p2pdist_peer_reads_in_flight", "FUSE reads waiting for their chunks now (stuck above 0 with no bytes read: reads are hung)");
    public Counter ReadErrors { get; } = create.CreateCounter("p2pdist_peer_read_errors_total", "FUSE reads answered with an error (EIO after the read deadline)");
}
