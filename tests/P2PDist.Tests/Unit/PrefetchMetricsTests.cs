using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

/// <summary>
/// Prefetch progress by image: two mounts of one image add into its series, the series goes with the last of
/// them (an unmounted image leaves no label behind), and a count that arrives after its mount ended is dropped.
/// </summary>
public sealed class PrefetchMetricsTests
{
    private readonly Prometheus.CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly PrefetchMetrics _metrics;

    public PrefetchMetricsTests() => _metrics = new PrefetchMetrics(Prometheus.Metrics.WithCustomRegistry(_registry));

    private async Task<string> PageAsync()
    {
        using var page = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(page);
        return System.Text.Encoding.UTF8.GetString(page.ToArray());
    }

    private static string Planned(string image) => $"p2pdist_peer_prefetch_planned_chunks{{image=\"{image}\"}}";
    private static string Warmed(string image) => $"p2pdist_peer_prefetch_warmed_chunks{{image=\"{image}\"}}";

    [Fact]
    public async Task MountsOfOneImage_AddUp_AndTheSeriesGoesWithTheLast()
    {
        const string image = "registry.local/app:rafs";
        var first = _metrics.Begin(image);
        var second = _metrics.Begin(image);
        first.Plan(10);
        first.Present(4);
        second.Plan(6);
        second.Present(6);
        string page = await PageAsync();
        Assert.Equal(16, MetricsScrape.Value(page, Planned(image)));
        Assert.Equal(10, MetricsScrape.Value(page, Warmed(image)));

        second.Dispose();
        page = await PageAsync();
        Assert.Equal(10, MetricsScrape.Value(page, Planned(image)));
        Assert.Equal(4, MetricsScrape.Value(page, Warmed(image)));

        first.Dispose();
        first.Present(3); // a warm that finished after its unmount
        page = await PageAsync();
        Assert.Null(MetricsScrape.Value(page, Planned(image)));
        Assert.Null(MetricsScrape.Value(page, Warmed(image)));
    }

    [Fact]
    public async Task AFailure_IsCountedWithoutALabel()
    {
        using var progress = _metrics.Begin("registry.local/app:rafs");
        progress.Failed();
        Assert.Equal(1, MetricsScrape.Value(await PageAsync(), "p2pdist_peer_prefetch_failures_total"));
    }

    [Fact]
    public async Task AVeryLongReference_IsCutToABoundedLabel()
    {
        string image = "registry.local/" + new string('a', 400) + ":rafs";
        using var progress = _metrics.Begin(image);
        progress.Plan(1);
        string page = await PageAsync();
        Assert.Equal(1, MetricsScrape.Value(page, Planned(image[..160])));
    }
}
