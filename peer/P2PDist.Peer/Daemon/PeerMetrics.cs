using Prometheus;

namespace P2PDist.Peer;

/// <summary>
/// The peer's Prometheus metrics, served at /metrics on the chunk server, the local socket and <c>--metrics</c>.
/// Names start with p2pdist_peer_; the Grafana dashboard in deploy/grafana reads them.
/// </summary>
public static class PeerMetrics
{
    public static readonly Counter ReadBytes = Metrics.CreateCounter("p2pdist_peer_read_bytes_total", "Bytes containers read through the FUSE mounts");
    public static readonly Counter FetchedBytes = Metrics.CreateCounter("p2pdist_peer_fetched_bytes_total", "Verified chunk bytes fetched, by source (origin: compressed bytes from the registry; peer: chunk bytes from other peers)", "source");
    public static readonly Counter FetchedChunks = Metrics.CreateCounter("p2pdist_peer_fetched_chunks_total", "Verified chunks fetched, by source", "source");
    public static readonly Histogram ChunkFetchSeconds = Metrics.CreateHistogram("p2pdist_peer_chunk_fetch_seconds", "Time to fetch one chunk (or one merged origin run), by source", new HistogramConfiguration
    {
        LabelNames = ["source"],
        Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
    });
    public static readonly Histogram OriginQueueSeconds = Metrics.CreateHistogram("p2pdist_peer_origin_queue_seconds",
        "Time an origin request waited for the node's origin queue, by the priority it was admitted at (reader, prefetch, background)", new HistogramConfiguration
        {
            LabelNames = ["priority"],
            Buckets = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
        });

    public static string PriorityLabel(Fetch.FetchPriority priority) => priority switch
    {
        Fetch.FetchPriority.Reader => "reader",
        Fetch.FetchPriority.Prefetch => "prefetch",
        _ => "background",
    };

    public static readonly Counter DigestFailures = Metrics.CreateCounter("p2pdist_peer_digest_failures_total", "Chunks that failed verification, by source (the bytes were discarded)", "source");
    public static readonly Counter PeerFailures = Metrics.CreateCounter("p2pdist_peer_peer_fetch_failures_total", "Fetches from other peers that failed, by reason (busy, missing, timeout, error, bad_length, bad_digest)", "reason");
    public static readonly Counter CacheHits = Metrics.CreateCounter("p2pdist_peer_cache_hits_total", "Chunk reads served by the local cache");
    public static readonly Counter CacheMisses = Metrics.CreateCounter("p2pdist_peer_cache_misses_total", "Chunk reads that had to fetch");
    public static readonly Gauge CacheBytes = Metrics.CreateGauge("p2pdist_peer_cache_bytes", "Bytes in the chunk cache");
    public static readonly Gauge CacheCapacityBytes = Metrics.CreateGauge("p2pdist_peer_cache_capacity_bytes", "The cache quota (--cache-quota): past it, chunks of closed files are evicted; 0 is no limit");
    public static readonly Gauge ReadsInFlight = Metrics.CreateGauge("p2pdist_peer_reads_in_flight", "FUSE reads waiting for their chunks now (stuck above 0 with no bytes read: reads are hung)");
    public static readonly Gauge BuildInfo = Metrics.CreateGauge("p2pdist_build_info", "Always 1: the version and component of this daemon", "version", "component");
    public static readonly Counter CacheEvictions = Metrics.CreateCounter("p2pdist_peer_cache_evictions_total", "Chunks evicted from the cache by its quota");
    public static readonly Counter ReadErrors = Metrics.CreateCounter("p2pdist_peer_read_errors_total", "FUSE reads answered with an error (EIO after the read deadline)");
    public static readonly Counter UploadedBytes = Metrics.CreateCounter("p2pdist_peer_uploaded_bytes_total", "Chunk bytes served to other peers");
    public static readonly Counter UploadedChunks = Metrics.CreateCounter("p2pdist_peer_uploaded_chunks_total", "Chunks served to other peers");
    public static readonly Counter UploadsRefused = Metrics.CreateCounter("p2pdist_peer_uploads_refused_total", "Chunk requests refused because every upload slot was busy");
    public static readonly Counter ChunkConnectionsAccepted = Metrics.CreateCounter("p2pdist_peer_chunk_connections_accepted_total",
        "Connections neighbours opened to this peer's chunk port (after TLS), by protocol: each one cost a TLS handshake", "protocol");
    public static readonly Counter PeerConnectionsOpened = Metrics.CreateCounter("p2pdist_peer_peer_connections_opened_total",
        "Framed-protocol connections this peer opened to holders (each one a TLS handshake; idle ones are reused)");
    public static readonly Gauge UploadsActive = Metrics.CreateGauge("p2pdist_peer_uploads_active", "Uploads to other peers under way");
    public static readonly Gauge Mounts = Metrics.CreateGauge("p2pdist_peer_mounts", "Images mounted");
    public static readonly Histogram SnapshotterSeconds = Metrics.CreateHistogram("p2pdist_peer_snapshotter_operation_seconds",
        "containerd snapshotter calls by operation and result (ok, or the gRPC code: AlreadyExists is a remote layer provided)", new HistogramConfiguration
        {
            LabelNames = ["operation", "result"],
            Buckets = Histogram.ExponentialBuckets(0.0005, 4, 10),
        });
    public static readonly Gauge Snapshots = Metrics.CreateGauge("p2pdist_peer_snapshots", "containerd snapshots this peer's snapshotter keeps, by kind (remote: Rafs layers served lazily)", "kind");

    /// <summary>The snapshotter's operations, each of which gets its series at start.</summary>
    public static readonly string[] SnapshotterOperations = ["prepare", "view", "mounts", "commit", "remove", "stat", "update", "usage", "cleanup"];

    public static readonly Gauge SupernodeUp = Metrics.CreateGauge("p2pdist_peer_supernode_up", "1 when the supernode answered the last call, by supernode", "supernode");

    /// <summary>
    /// Creates every labelled series at 0 when the daemon starts. A series that first appears already counted
    /// hides its first increase from rate() and increase(): a peer's first origin burst would never show.
    /// </summary>
    public static void InitialiseSeries()
    {
        foreach (string source in new[] { "origin", "peer" })
        {
            FetchedBytes.WithLabels(source);
            FetchedChunks.WithLabels(source);
            ChunkFetchSeconds.WithLabels(source);
            DigestFailures.WithLabels(source);
        }
        Fuse.FuseOperationMetrics.InitialiseSeries();
        foreach (var priority in Enum.GetValues<Fetch.FetchPriority>())
            OriginQueueSeconds.WithLabels(PriorityLabel(priority));
        foreach (string reason in new[] { "busy", "missing", "timeout", "error", "bad_length", "bad_digest" })
            PeerFailures.WithLabels(reason);
        foreach (string protocol in new[] { "framed", "http" })
            ChunkConnectionsAccepted.WithLabels(protocol);
        foreach (string operation in SnapshotterOperations)
            SnapshotterSeconds.WithLabels(operation, "ok");
        foreach (string kind in new[] { "remote", "active", "view", "committed" })
            Snapshots.WithLabels(kind);
    }
}
