using Prometheus;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// What the node's chunk fetching reports: verified bytes and chunks by source, fetch time, time queued for
/// the origin by priority, and chunks that failed their digest (discarded). Labels are bounded: source is
/// origin or peer, priority one of <see cref="FetchPriority"/>.
/// </summary>
public sealed class FetchMetrics
{
    private static readonly string[] Sources = ["origin", "peer"];

    public FetchMetrics(IMetricFactory create)
    {
        FetchedBytes = create.CreateCounter("p2pdist_peer_fetched_bytes_total", "Verified chunk bytes fetched, by source (origin: compressed bytes from the registry; peer: chunk bytes from other peers)", ["source"]);
        FetchedChunks = create.CreateCounter("p2pdist_peer_fetched_chunks_total", "Verified chunks fetched, by source", ["source"]);
        ChunkFetchSeconds = create.CreateHistogram("p2pdist_peer_chunk_fetch_seconds", "Time to fetch one chunk (or one merged origin run), by source", new HistogramConfiguration
        {
            LabelNames = ["source"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
        });
        OriginQueueSeconds = create.CreateHistogram("p2pdist_peer_origin_queue_seconds",
            "Time an origin request waited for the node's origin queue, by the priority it was admitted at (reader, prefetch, background)", new HistogramConfiguration
            {
                LabelNames = ["priority"],
                Buckets = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
            });
        CacheReadBytes = create.CreateCounter("p2pdist_peer_cache_read_bytes_total",
            "Bytes of container reads answered from the local cache without a fetch (beside fetched bytes by source: the cache as a third source)");
        DigestFailures = create.CreateCounter("p2pdist_peer_digest_failures_total", "Chunks that failed verification, by source (the bytes were discarded)", ["source"]);

        // Every labelled series from 0: a series born already counted hides its first increase from rate().
        foreach (string source in Sources)
        {
            FetchedBytes.WithLabels(source);
            FetchedChunks.WithLabels(source);
            ChunkFetchSeconds.WithLabels(source);
            DigestFailures.WithLabels(source);
        }
        foreach (var priority in Enum.GetValues<FetchPriority>())
            OriginQueueSeconds.WithLabels(PriorityLabel(priority));
    }

    public Counter FetchedBytes { get; }
    public Counter FetchedChunks { get; }
    public Histogram ChunkFetchSeconds { get; }
    public Histogram OriginQueueSeconds { get; }
    public Counter DigestFailures { get; }
    public Counter CacheReadBytes { get; }

    public static string PriorityLabel(FetchPriority priority) => priority switch
    {
        FetchPriority.Reader => "reader",
        FetchPriority.Prefetch => "prefetch",
        _ => "background",
    };
}
