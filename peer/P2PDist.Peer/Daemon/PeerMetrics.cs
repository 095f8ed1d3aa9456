using Prometheus;
using P2PDist.Peer.Cache;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fetch;
using P2PDist.Peer.Fuse;
using P2PDist.Peer.P2P;
using P2PDist.Peer.Snapshotter;

namespace P2PDist.Peer;

/// <summary>
/// One peer daemon's Prometheus metrics, served at /metrics on --metrics-listen; names start with p2pdist_peer_
/// and the Grafana dashboards in deploy/grafana read them. The daemon owns this instance and its registry
/// (process metrics included); each component is handed the group it reports to, so nothing is a process-wide
/// static and two peers in one process count apart.
/// </summary>
public sealed class PeerMetrics
{
    private readonly Gauge _mounts;

    public PeerMetrics(long cacheQuotaBytes)
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var create = Metrics.WithCustomRegistry(Registry);
        Fetch = new FetchMetrics(create);
        Prefetch = new PrefetchMetrics(create);
        Reads = new ReadMetrics(create);
        Fuse = new FuseOperationMetrics(create);
        Swarm = new SwarmMetrics(create);
        Snapshotter = new SnapshotterMetrics(create);
        Cache = new CacheMetrics(create, cacheQuotaBytes);
        _mounts = create.CreateGauge("p2pdist_peer_mounts", "Images mounted");
        create.CreateGauge("p2pdist_build_info", "Always 1: the version and component of this daemon", ["version", "component"])
            .WithLabels(P2PDist.BuildVersion.Text, "peer").Set(1);
    }

    public CollectorRegistry Registry { get; }
    public FetchMetrics Fetch { get; }
    public PrefetchMetrics Prefetch { get; }
    public ReadMetrics Reads { get; }
    public FuseOperationMetrics Fuse { get; }
    public SwarmMetrics Swarm { get; }
    public SnapshotterMetrics Snapshotter { get; }
    public CacheMetrics Cache { get; }

    /// <summary>The values the daemon's parts keep themselves, read just before each scrape.</summary>
    public void RefreshBeforeScrape(Func<ChunkCache> cache, Func<int> mounts, Func<int> uploadsActive)
    {
        Registry.AddBeforeCollectCallback(() =>
        {
            Cache.Refresh(cache());
            _mounts.Set(mounts());
            Swarm.UploadsActive.Set(uploadsActive());
        });
    }
}
