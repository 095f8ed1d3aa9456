using Prometheus;

namespace P2PDist.Supernode;

/// <summary>The supernode's Prometheus metrics (served on <c>--metrics</c> at /metrics); names start with p2pdist_supernode_.</summary>
internal static class SupernodeMetrics
{
    public static readonly Gauge Peers = Metrics.CreateGauge("p2pdist_supernode_peers", "Registered peers that are alive");
    public static readonly Gauge BlockedPeers = Metrics.CreateGauge("p2pdist_supernode_blocked_peers", "Peers left out of holder lists after bad digests or repeated timeouts");
    public static readonly Gauge Blobs = Metrics.CreateGauge("p2pdist_supernode_blobs", "Blobs with at least one holder");
    public static readonly Counter Registrations = Metrics.CreateCounter("p2pdist_supernode_registrations_total", "Peer registrations (re-registrations after a supernode restart included)");
    public static readonly Counter Announcements = Metrics.CreateCounter("p2pdist_supernode_announcements_total", "Announcements (heartbeats included) accepted");
    public static readonly Counter Expired = Metrics.CreateCounter("p2pdist_supernode_peers_expired_total", "Peers dropped with their holdings after missing heartbeats");
    public static readonly Counter HolderQueries = Metrics.CreateCounter("p2pdist_supernode_holder_queries_total", "Chunks asked about, by whether some peer held them", "result");
    public static readonly Counter OriginElections = Metrics.CreateCounter("p2pdist_supernode_origin_elections_total", "Answers for chunks nobody holds: elected to fetch from the origin, or told to wait for the elected peer", "result");
    public static readonly Counter Reports = Metrics.CreateCounter("p2pdist_supernode_reports_total", "Faults reported against peers", "fault");
    public static readonly Histogram HolderQuerySeconds = Metrics.CreateHistogram("p2pdist_supernode_holder_query_seconds", "Time to answer one FindHolders call (ranking and elections included)",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 4, 8) });
    public static readonly Gauge BuildInfo = Metrics.CreateGauge("p2pdist_build_info", "Always 1: the version and component of this daemon", "version", "component");
    public static readonly Counter Rejected = Metrics.CreateCounter("p2pdist_supernode_rejected_messages_total", "Malformed or hostile messages refused");

    /// <summary>Refreshes the gauges from the index just before a scrape.</summary>
    public static void Track(SchedulerIndex index)
    {
        BuildInfo.WithLabels(P2PDist.BuildVersion.Text, "supernode").Set(1);
        // Every labelled series from 0, so rate() sees the first increase (a series born counted hides it).
        foreach (string fault in new[] { "bad_digest", "timeout" })
            Reports.WithLabels(fault);
        foreach (string result in new[] { "held", "none" })
            HolderQueries.WithLabels(result);
        foreach (string result in new[] { "elected", "wait", "over_limit", "renewed" })
            OriginElections.WithLabels(result);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(() => Refresh(index));
    }

    private static void Refresh(SchedulerIndex index)
    {
        Peers.Set(index.PeerCount);
        BlockedPeers.Set(index.BlockedCount);
        Blobs.Set(index.BlobCount);
    }
}
