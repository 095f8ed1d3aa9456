using Prometheus;

namespace P2PDist.Supernode;

/// <summary>
/// The supernode's Prometheus metrics (served on <c>--metrics</c> at /metrics); names start with p2pdist_supernode_.
/// One instance per supernode, with its own registry (process metrics included), held by the service
/// container: two supernodes in one process (the component tests) count apart.
/// </summary>
internal sealed class SupernodeMetrics
{
    public SupernodeMetrics(SchedulerIndex index)
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var create = Metrics.WithCustomRegistry(Registry);
        Peers = create.CreateGauge("p2pdist_supernode_peers", "Registered peers that are alive");
        BlockedPeers = create.CreateGauge("p2pdist_supernode_blocked_peers", "Peers left out of holder lists after bad digests or repeated timeouts");
        Blobs = create.CreateGauge("p2pdist_supernode_blobs", "Blobs with at least one holder");
        Registrations = create.CreateCounter("p2pdist_supernode_registrations_total", "Peer registrations (re-registrations after a supernode restart included)");
        Announcements = create.CreateCounter("p2pdist_supernode_announcements_total", "Announcements (heartbeats included) accepted");
        Expired = create.CreateCounter("p2pdist_supernode_peers_expired_total", "Peers dropped with their holdings after missing heartbeats");
        HolderQueries = create.CreateCounter("p2pdist_supernode_holder_queries_total", "Chunks asked about, by whether some peer held them", ["result"]);
        OriginElections = create.CreateCounter("p2pdist_supernode_origin_elections_total", "Answers for chunks nobody holds: elected to fetch from the origin, or told to wait for the elected peer", ["result"]);
        Reports = create.CreateCounter("p2pdist_supernode_reports_total", "Faults reported against peers", ["fault"]);
        HolderQuerySeconds = create.CreateHistogram("p2pdist_supernode_holder_query_seconds", "Time to answer one FindHolders call (ranking and elections included)",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 4, 8) });
        Rejected = create.CreateCounter("p2pdist_supernode_rejected_messages_total", "Malformed or hostile messages refused");
        create.CreateGauge("p2pdist_build_info", "Always 1: the version and component of this daemon", ["version", "component"])
            .WithLabels(P2PDist.BuildVersion.Text, "supernode").Set(1);

        // Every labelled series from 0, so rate() sees the first increase (a series born counted hides it).
        foreach (string fault in new[] { "bad_digest", "timeout" })
            Reports.WithLabels(fault);
        foreach (string result in new[] { "held", "none" })
            HolderQueries.WithLabels(result);
        foreach (string result in new[] { "elected", "wait", "over_limit", "renewed" })
            OriginElections.WithLabels(result);
        Registry.AddBeforeCollectCallback(() =>
        {
            Peers.Set(index.PeerCount);
            BlockedPeers.Set(index.BlockedCount);
            Blobs.Set(index.BlobCount);
        });
    }

    public CollectorRegistry Registry { get; }
    public Gauge Peers { get; }
    public Gauge BlockedPeers { get; }
    public Gauge Blobs { get; }
    public Counter Registrations { get; }
    public Counter Announcements { get; }
    public Counter Expired { get; }
    public Counter HolderQueries { get; }
    public Counter OriginElections { get; }
    public Counter Reports { get; }
    public Histogram HolderQuerySeconds { get; }
    public Counter Rejected { get; }
}
