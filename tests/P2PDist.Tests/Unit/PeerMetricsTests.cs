using P2PDist.Peer;
using P2PDist.Peer.Fuse;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

/// <summary>
/// The peer's metrics are a daemon's own instance, not process-wide statics: what one peer counts never shows on
/// another's page, every labelled series exists at 0 before the first event, and the process metrics an operator
/// sizes a node by (CPU, memory, threads, open files) are on the same page.
/// </summary>
public sealed class PeerMetricsTests
{
    private static async Task<string> ExportAsync(PeerMetrics metrics)
    {
        using var page = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(page);
        return System.Text.Encoding.UTF8.GetString(page.ToArray());
    }

    [Fact]
    public async Task TwoPeersInOneProcess_CountApart()
    {
        var first = new PeerMetrics(cacheQuotaBytes: 1 << 30);
        var second = new PeerMetrics(cacheQuotaBytes: 2L << 30);
        first.Fetch.FetchedBytes.WithLabels("origin").Inc(4096);
        first.Swarm.UploadsCutOff.Inc();
        first.Fuse.Observe(FuseOpcode.Read, 0, TimeSpan.FromMilliseconds(2));

        string one = await ExportAsync(first), two = await ExportAsync(second);
        Assert.Equal(4096, MetricsScrape.Value(one, "p2pdist_peer_fetched_bytes_total{source=\"origin\"}"));
        Assert.Equal(0, MetricsScrape.Value(two, "p2pdist_peer_fetched_bytes_total{source=\"origin\"}"));
        Assert.Equal(1, MetricsScrape.Value(one, "p2pdist_peer_uploads_cut_off_total"));
        Assert.Equal(0, MetricsScrape.Value(two, "p2pdist_peer_uploads_cut_off_total"));
        Assert.Equal(1, MetricsScrape.Value(one, "p2pdist_peer_fuse_operation_seconds_count{operation=\"read\",result=\"ok\"}"));
        Assert.Equal(0, MetricsScrape.Value(two, "p2pdist_peer_fuse_operation_seconds_count{operation=\"read\",result=\"ok\"}"));
        Assert.Equal(1 << 30, MetricsScrape.Value(one, "p2pdist_peer_cache_capacity_bytes"));
        Assert.Equal(2L << 30, MetricsScrape.Value(two, "p2pdist_peer_cache_capacity_bytes"));
    }

    [Theory]
    [InlineData("p2pdist_peer_fetched_bytes_total{source=\"peer\"}")]
    [InlineData("p2pdist_peer_digest_failures_total{source=\"origin\"}")]
    [InlineData("p2pdist_peer_origin_queue_seconds_count{priority=\"background\"}")]
    [InlineData("p2pdist_peer_peer_fetch_failures_total{reason=\"bad_digest\"}")]
    [InlineData("p2pdist_peer_chunk_connections_accepted_total{protocol=\"framed\"}")]
    [InlineData("p2pdist_peer_snapshotter_operation_seconds_count{operation=\"prepare\",result=\"ok\"}")]
    [InlineData("p2pdist_peer_snapshots{kind=\"remote\"}")]
    [InlineData("p2pdist_peer_fuse_operation_seconds_count{operation=\"lookup\",result=\"error\"}")]
    [InlineData("p2pdist_peer_reads_in_flight")]
    public async Task LabelledSeries_ExistAtZeroBeforeTheFirstEvent(string series) =>
        Assert.Equal(0, MetricsScrape.Value(await ExportAsync(new PeerMetrics(0)), series));

    [Fact]
    public async Task ThePage_CarriesBuildInfoAndTheProcessMetrics()
    {
        string page = await ExportAsync(new PeerMetrics(0));
        Assert.Equal(1, MetricsScrape.Value(page, $"p2pdist_build_info{{version=\"{P2PDist.BuildVersion.Text}\",component=\"peer\"}}"));
        foreach (string name in new[] { "process_cpu_seconds_total", "process_working_set_bytes", "process_num_threads", "process_open_handles" })
            Assert.True(MetricsScrape.Value(page, name) > 0, $"{name} missing or 0");
    }
}
