using Prometheus;

namespace P2PDist.Peer.Snapshotter;

/// <summary>The containerd snapshotter's calls by operation and result, and the snapshots it keeps by kind.</summary>
public sealed class SnapshotterMetrics
{
    /// <summary>The operations, each of which gets its series at start.</summary>
    public static readonly string[] Operations = ["prepare", "view", "mounts", "commit", "remove", "stat", "update", "usage", "cleanup"];

    public SnapshotterMetrics(IMetricFactory create)
    {
        Seconds = create.CreateHistogram("p2pdist_peer_snapshotter_operation_seconds",
            "containerd snapshotter calls by operation and result (ok, or the gRPC code: AlreadyExists is a remote layer provided)", new HistogramConfiguration
            {
                LabelNames = ["operation", "result"],
                Buckets = Histogram.ExponentialBuckets(0.0005, 4, 10),
            });
        Snapshots = create.CreateGauge("p2pdist_peer_snapshots", "containerd snapshots this peer's snapshotter keeps, by kind (remote: Rafs layers served lazily)", ["kind"]);
        foreach (string operation in Operations)
            Seconds.WithLabels(operation, "ok");
        foreach (string kind in new[] { "remote", "active", "view", "committed" })
            Snapshots.WithLabels(kind);
    }

    public Histogram Seconds { get; }
    public Gauge Snapshots { get; }
}
