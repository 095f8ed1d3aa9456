using Prometheus;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Prefetch progress by image: the chunks the mounts' prefetches set out to make present (the image's prefetch
/// list, and with --prefetch-all every other chunk) and how many of those are present now. The image label is
/// the mounted reference, bounded by the node's mounts: a series lives while a mount of that image runs and is
/// removed with the last one, so unmounted images leave nothing behind.
/// </summary>
public sealed class PrefetchMetrics
{
    /// <summary>References are validated at mount; this only keeps a label of a very long one readable.</summary>
    private const int MaxImageLabelLength = 160;

    private readonly Gauge _planned;
    private readonly Gauge _warmed;
    private readonly Counter _failures;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _running = new(StringComparer.Ordinal);

    public PrefetchMetrics(IMetricFactory create)
    {
        _planned = create.CreateGauge("p2pdist_peer_prefetch_planned_chunks", "Chunks the running prefetches of an image's mounts set out to make present", ["image"]);
        _warmed = create.CreateGauge("p2pdist_peer_prefetch_warmed_chunks", "Chunks of that plan present now (fetched by the prefetch, or already there)", ["image"]);
        _failures = create.CreateCounter("p2pdist_peer_prefetch_failures_total", "Prefetch fetches that failed (the chunk is fetched again when a reader asks)");
    }

    /// <summary>The progress of one mount's prefetch; disposing it takes its counts back out of the image's series.</summary>
    public PrefetchProgress Begin(string image)
    {
        string label = image.Length <= MaxImageLabelLength ? image : image[..MaxImageLabelLength];
        lock (_gate)
            _running[label] = _running.GetValueOrDefault(label) + 1;
        return new PrefetchProgress(this, label);
    }

    internal void Add(string image, int planned, int warmed)
    {
        lock (_gate)
        {
            if (planned != 0)
                _planned.WithLabels(image).Inc(planned);
            if (warmed != 0)
                _warmed.WithLabels(image).Inc(warmed);
        }
    }

    internal void Failed() => _failures.Inc();

    internal void End(string image, int planned, int warmed)
    {
        lock (_gate)
        {
            int left = _running[image] - 1;
            if (left > 0)
            {
                _running[image] = left;
                _planned.WithLabels(image).Dec(planned);
                _warmed.WithLabels(image).Dec(warmed);
                return;
            }
            _running.Remove(image);
            _planned.RemoveLabelled(image);
            _warmed.RemoveLabelled(image);
        }
    }
}

/// <summary>
/// One mount's prefetch, counted into its image's series. Thread-safe (the table's files warm side by side); a
/// count after <see cref="Dispose"/> (a warm still finishing after the unmount) is dropped, so it cannot bring
/// back a removed series.
/// </summary>
public sealed class PrefetchProgress : IDisposable
{
    private readonly PrefetchMetrics _metrics;
    private readonly string _image;
    private readonly Lock _gate = new();
    private int _planned;
    private int _warmed;
    private bool _ended;

    internal PrefetchProgress(PrefetchMetrics metrics, string image)
    {
        _metrics = metrics;
        _image = image;
    }

    public int Planned
    {
        get { lock (_gate) return _planned; }
    }

    public int Warmed
    {
        get { lock (_gate) return _warmed; }
    }

    public void Plan(int chunks) => Count(chunks, 0);

    public void Present(int chunks = 1) => Count(0, chunks);

    public void Failed() => _metrics.Failed();

    private void Count(int planned, int warmed)
    {
        lock (_gate)
        {
            if (_ended)
                return;
            _planned += planned;
            _warmed += warmed;
            _metrics.Add(_image, planned, warmed);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_ended)
                return;
            _ended = true;
            _metrics.End(_image, _planned, _warmed);
        }
    }

    /// <summary>For prefetches nobody watches (tests that drive the chunk provider alone).</summary>
    public static PrefetchProgress Unobserved() => new PrefetchMetrics(MetricFactories.Detached()).Begin("-");
}
