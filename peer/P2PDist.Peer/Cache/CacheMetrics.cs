using Prometheus;

namespace P2PDist.Peer.Cache;

/// <summary>The chunk cache as an operator sees it, read off the cache when Prometheus scrapes (the cache keeps the counts).</summary>
public sealed class CacheMetrics
{
    private readonly Counter _hits;
    private readonly Counter _misses;
    private readonly Counter _evictions;
    private readonly Gauge _bytes;
    private readonly Gauge _entries;

    public CacheMetrics(IMetricFactory create, long quotaBytes)
    {
        _hits = create.CreateCounter("p2pdist_peer_cache_hits_total", "Chunk reads served by the local cache");
        _misses = create.CreateCounter("p2pdist_peer_cache_misses_total", "Chunk reads that had to fetch");
        _evictions = create.CreateCounter("p2pdist_peer_cache_evictions_total", "Chunks evicted from the cache by its quota");
        _bytes = create.CreateGauge("p2pdist_peer_cache_bytes", "Bytes in the chunk cache");
        _entries = create.CreateGauge("p2pdist_peer_cache_entries", "Files in the chunk cache: chunk files and passthrough copies");
        // Fixed for the daemon's life: set once, not per scrape.
        create.CreateGauge("p2pdist_peer_cache_capacity_bytes", "The cache quota (--cache-quota): past it, chunks of closed files are evicted; 0 is no limit")
            .Set(quotaBytes);
    }

    public void Refresh(ChunkCache cache)
    {
        _hits.IncTo(cache.Hits);
        _misses.IncTo(cache.Misses);
        _evictions.IncTo(cache.Evictions);
        _bytes.Set(cache.SizeBytes);
        _entries.Set(cache.EntryCount);
    }
}
