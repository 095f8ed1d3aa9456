using Prometheus;

namespace P2PDist.Peer;

/// <summary>Where a component's metrics go when nobody scrapes them (tests, the recording run of `image optimize`).</summary>
public static class MetricFactories
{
    /// <summary>A factory on a registry of its own that no endpoint exports.</summary>
    public static IMetricFactory Detached() => Metrics.WithCustomRegistry(Metrics.NewCustomRegistry());
}
