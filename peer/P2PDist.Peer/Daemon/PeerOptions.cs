using P2PDist.Rafs;
using P2PDist.Settings;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The peer's settings. Precedence: defaults, then <c>--config FILE</c> (YAML or JSON), then P2PDIST_-prefixed
/// environment variables, then flags. Everything the daemon keeps lives under <see cref="DataDir"/>.
/// </summary>
public sealed record PeerOptions
{
    public string DataDir { get; init; } = "/var/lib/p2pdist/peer";

    /// <summary>How long one read may wait for its chunks, across retries, before it fails with EIO.</summary>
    public double ReadTimeoutSeconds { get; init; } = 30;

    /// <summary>FUSE worker threads per mount (each with its own cloned /dev/fuse fd).</summary>
    public int FuseWorkers { get; init; } = 4;

    /// <summary>After the prefetch table, fetch the rest of the image in the background (one chunk at a time).</summary>
    public bool PrefetchAll { get; init; }

    /// <summary>The largest origin request: the ceiling of the readahead of a file read in sequence (see <see cref="FileSystem.SequentialReadahead"/>) and of a prefetch's merged runs.</summary>
    public int MergeBytes { get; init; } = 2 << 20;

    /// <summary>
    /// The kernel's readahead for each FUSE mount (its bdi's read_ahead_kb), in KiB; 0 leaves the kernel's
    /// default. It is also the read-around of a page fault in an mmap'd file, so it is what a random read of a
    /// shared library costs: kept small, while the peer's own readahead grows for files read in sequence.
    /// </summary>
    public int KernelReadaheadKb { get; init; } = DefaultKernelReadaheadKb;

    public const int DefaultKernelReadaheadKb = 128;

    /// <summary>Size the chunk cache may reach before least recently used chunks of closed files are evicted; 0: no limit.</summary>
    public long CacheQuotaBytes { get; init; } = 20L << 30;

    /// <summary>Serve fully cached files through FUSE passthrough (the kernel reads a plain copy; no daemon round trip).</summary>
    public bool Passthrough { get; init; } = true;

    /// <summary>The supernode (ADDRESS:PORT); without it the peer fetches from the origin only.</summary>
    public string? Supernode { get; init; }

    /// <summary>Where this peer serves chunks to others (ADDRESS:PORT); also the source address of its connections to peers.</summary>
    public string? Listen { get; init; }

    /// <summary>Locality labels sent to the supernode (e.g. zone, rack): holders in the requester's zone rank first.</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(LabelsJsonConverter))]
    public Dictionary<string, string> Labels { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Uploads to other peers served at once; further requests get 503 and try another holder.</summary>
    public int UploadSlots { get; init; } = 16;

    /// <summary>Upload bandwidth to other peers, bytes per second, shared by all uploads; 0: unlimited.</summary>
    public long UploadBytesPerSecond { get; init; }

    /// <summary>Chunks a whole-image prefetch fetches at once (from several peers).</summary>
    public int PrefetchConcurrency { get; init; } = 8;

    /// <summary>Former name of <see cref="TlsCaFile"/> (read as it, for old settings files).</summary>
    public string? SupernodeCaFile { get; init; }

    /// <summary>
    /// Where Prometheus metrics (/metrics) and health (/healthz, /readyz) are served, read-only: loopback by
    /// default, "off" for none. The local socket serves /metrics too. The chunk port never does.
    /// </summary>
    public string? MetricsListen { get; init; } = DefaultMetricsListen;

    public const string DefaultMetricsListen = "127.0.0.1:9710";

    /// <summary>A group (name in /etc/group) whose members may use the local API besides root; the socket is then 0660 with that group.</summary>
    public string? ApiGroup { get; init; }
    /// <summary>PEM certificate and key of this peer (`p2pdist cert issue --peer NAME`; NAME is its id in the swarm) and the
    /// cluster CA: the chunk listener is HTTPS and admits only peers of this cluster; peers and supernodes are dialled
    /// with this certificate and must show one from the same CA.</summary>
    public string? TlsCertificateFile { get; init; }
    public string? TlsKeyFile { get; init; }
    public string? TlsCaFile { get; init; }

    /// <summary>Without TLS: plain HTTP chunks, h2c to the supernode, no peer identity (a laptop, tests). Logged as a warning.</summary>
    public bool Insecure { get; init; }

    /// <summary>"text" (default) or "json": one JSON object per log line, each event's fields as properties.</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>trace, debug, information (default), warning, error or critical.</summary>
    public string LogLevel { get; init; } = "information";

    /// <summary>How this peer asks neighbours for chunks: "framed" (default) or "http"; every chunk port answers both.</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<P2P.PeerProtocol>))]
    public P2P.PeerProtocol PeerProtocol { get; init; } = P2P.PeerProtocol.Framed;

    /// <summary>Slowest a client may read an upload (bytes per second): past the deadline this sets (plus 2 s) its slot is taken back.</summary>
    public long UploadMinBytesPerSecond { get; init; } = 64 << 10;


    public string FilesDir => Path.Combine(DataDir, "cache", "files");

    public string SocketPath => Path.Combine(DataDir, "peer.sock");
    public string CacheDir => Path.Combine(DataDir, "cache");
    public string ImagesDir => Path.Combine(DataDir, "images");
    public string StatePath => Path.Combine(DataDir, "mounts.json");

    /// <summary>
    /// The containerd snapshotter's socket (containerd's proxy plugin address): beside the API socket unless set;
    /// "off" serves no snapshotter.
    /// </summary>
    public string? SnapshotterSocket { get; init; }

    public string? SnapshotterSocketPath => SnapshotterSocket switch
    {
        "off" => null,
        null or "" => Path.Combine(DataDir, "snapshotter.sock"),
        var path => path,
    };

    /// <summary>
    /// Registries (host or host:port) the snapshotter reaches over plain HTTP when containerd's labels do not say
    /// (Kubernetes' CRI sends none): a node's local mirror, or a test registry on loopback.
    /// </summary>
    public List<string> PlainHttpRegistries { get; init; } = [];

    /// <summary>Snapshot metadata and the directories of snapshots that are not served from an image.</summary>
    public string SnapshotsDir => Path.Combine(DataDir, "snapshots");

    /// <summary>Container root mounts (setuid and devices honoured) live here, under the 0700 data directory.</summary>
    public string RootsDir => Path.Combine(DataDir, "roots");

    public static PeerOptions Load(string? configFile, IDictionary<string, string?> environment, string? dataDirFlag, double? readTimeoutFlag,
        bool? prefetchAllFlag = null, long? cacheQuotaFlag = null, string? supernodeFlag = null, string? listenFlag = null, PeerTuningFlags? tuning = null)
    {
        var options = configFile is null ? new PeerOptions() : SettingsFile.Read<PeerOptions>(configFile);
        if (environment.TryGetValue("P2PDIST_DATA_DIR", out var dataDir) && !string.IsNullOrEmpty(dataDir))
            options = options with { DataDir = dataDir };
        if (environment.TryGetValue("P2PDIST_READ_TIMEOUT_SECONDS", out var timeout) && double.TryParse(timeout, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            options = options with { ReadTimeoutSeconds = seconds };
        if (environment.TryGetValue("P2PDIST_PASSTHROUGH", out var passthrough) && bool.TryParse(passthrough, out bool passthroughValue))
            options = options with { Passthrough = passthroughValue };
        if (environment.TryGetValue("P2PDIST_KERNEL_READAHEAD_KB", out var readahead) && int.TryParse(readahead, out int readaheadKb))
            options = options with { KernelReadaheadKb = readaheadKb };
        if (environment.TryGetValue("P2PDIST_PREFETCH_ALL", out var all) && bool.TryParse(all, out bool prefetchAll))
            options = options with { PrefetchAll = prefetchAll };
        if (dataDirFlag is not null)
            options = options with { DataDir = dataDirFlag };
        if (readTimeoutFlag is { } flagSeconds)
            options = options with { ReadTimeoutSeconds = flagSeconds };
        if (environment.TryGetValue("P2PDIST_CACHE_QUOTA_BYTES", out var quota) && long.TryParse(quota, out long quotaBytes))
            options = options with { CacheQuotaBytes = quotaBytes };
        if (cacheQuotaFlag is { } quotaFlag)
            options = options with { CacheQuotaBytes = quotaFlag };
        if (environment.TryGetValue("P2PDIST_SUPERNODE", out var supernode) && !string.IsNullOrEmpty(supernode))
            options = options with { Supernode = supernode };
        if (environment.TryGetValue("P2PDIST_LISTEN", out var listen) && !string.IsNullOrEmpty(listen))
            options = options with { Listen = listen };
        if (supernodeFlag is not null)
            options = options with { Supernode = supernodeFlag };
        if (listenFlag is not null)
            options = options with { Listen = listenFlag };
        if (prefetchAllFlag is { } prefetchAllValue)
            options = options with { PrefetchAll = prefetchAllValue };
        if (tuning?.FuseWorkers is { } workers)
            options = options with { FuseWorkers = workers };
        if (tuning?.MergeBytes is { } merge)
            options = options with { MergeBytes = merge };
        if (tuning?.Passthrough is { } passthroughFlag)
            options = options with { Passthrough = passthroughFlag };
        if (environment.TryGetValue("P2PDIST_LABELS", out var labels) && !string.IsNullOrEmpty(labels))
            options = options with { Labels = SettingsFile.ParseLabels(labels, "P2PDIST_LABELS") };
        if (environment.TryGetValue("P2PDIST_UPLOAD_BYTES_PER_SECOND", out var rate) && long.TryParse(rate, out long rateValue))
            options = options with { UploadBytesPerSecond = rateValue };
        if (tuning?.Labels is { } labelFlag)
            options = options with { Labels = SettingsFile.ParseLabels(labelFlag, "--labels") };
        if (tuning?.UploadSlots is { } slots)
            options = options with { UploadSlots = slots };
        if (tuning?.UploadBytesPerSecond is { } rateFlag)
            options = options with { UploadBytesPerSecond = rateFlag };
        if (tuning?.PrefetchConcurrency is { } prefetchConcurrency)
            options = options with { PrefetchConcurrency = prefetchConcurrency };
        if (tuning?.SupernodeCaFile is { } ca)
            options = options with { SupernodeCaFile = Path.GetFullPath(ca) };
        if (environment.TryGetValue("P2PDIST_METRICS_LISTEN", out var metricsListen) && !string.IsNullOrEmpty(metricsListen))
            options = options with { MetricsListen = metricsListen };
        if (tuning?.MetricsListen is { } metrics)
            options = options with { MetricsListen = metrics };
        if (options.MetricsListen is "off" or "")
            options = options with { MetricsListen = null };
        if (environment.TryGetValue("P2PDIST_API_GROUP", out var apiGroup) && !string.IsNullOrEmpty(apiGroup))
            options = options with { ApiGroup = apiGroup };
        if (tuning?.ApiGroup is { } apiGroupFlag)
            options = options with { ApiGroup = apiGroupFlag };
        if (environment.TryGetValue("P2PDIST_TLS_CERT", out var tlsCert) && !string.IsNullOrEmpty(tlsCert))
            options = options with { TlsCertificateFile = tlsCert };
        if (environment.TryGetValue("P2PDIST_TLS_KEY", out var tlsKey) && !string.IsNullOrEmpty(tlsKey))
            options = options with { TlsKeyFile = tlsKey };
        if (environment.TryGetValue("P2PDIST_TLS_CA", out var tlsCa) && !string.IsNullOrEmpty(tlsCa))
            options = options with { TlsCaFile = tlsCa };
        if (environment.TryGetValue("P2PDIST_INSECURE", out var insecure) && bool.TryParse(insecure, out bool insecureValue))
            options = options with { Insecure = insecureValue };
        if (tuning?.Tls is { } tls)
            options = options with { TlsCertificateFile = tls.Certificate ?? options.TlsCertificateFile, TlsKeyFile = tls.Key ?? options.TlsKeyFile, TlsCaFile = tls.Ca ?? options.TlsCaFile, Insecure = tls.Insecure || options.Insecure };
        if (tuning?.UploadMinBytesPerSecond is { } minRate)
            options = options with { UploadMinBytesPerSecond = minRate };
        if (environment.TryGetValue("P2PDIST_LOG_FORMAT", out var logFormat) && !string.IsNullOrEmpty(logFormat))
            options = options with { LogFormat = logFormat };
        if (environment.TryGetValue("P2PDIST_LOG_LEVEL", out var logLevel) && !string.IsNullOrEmpty(logLevel))
            options = options with { LogLevel = logLevel };
        if (tuning?.LogFormat is { } logFormatFlag)
            options = options with { LogFormat = logFormatFlag };
        if (tuning?.LogLevel is { } logLevelFlag)
            options = options with { LogLevel = logLevelFlag };
        if (environment.TryGetValue("P2PDIST_PEER_PROTOCOL", out var protocol) && !string.IsNullOrEmpty(protocol))
            options = options with { PeerProtocol = ParseProtocol(protocol, "P2PDIST_PEER_PROTOCOL") };
        if (environment.TryGetValue("P2PDIST_SNAPSHOTTER_SOCKET", out var snapshotter) && !string.IsNullOrEmpty(snapshotter))
            options = options with { SnapshotterSocket = snapshotter };
        if (tuning?.SnapshotterSocket is { } snapshotterFlag)
            options = options with { SnapshotterSocket = snapshotterFlag };
        if (environment.TryGetValue("P2PDIST_PLAIN_HTTP_REGISTRIES", out var plainRegistries) && !string.IsNullOrEmpty(plainRegistries))
            options = options with { PlainHttpRegistries = SplitList(plainRegistries) };
        if (tuning?.PlainHttpRegistries is { } plainFlag)
            options = options with { PlainHttpRegistries = SplitList(plainFlag) };
        if (tuning?.PeerProtocol is { } protocolFlag)
            options = options with { PeerProtocol = ParseProtocol(protocolFlag, "--peer-protocol") };
        // supernodeCaFile / --supernode-ca is the cluster CA under its former name.
        options = options with { TlsCaFile = FullPath(options.TlsCaFile ?? options.SupernodeCaFile), SupernodeCaFile = null,
            TlsCertificateFile = FullPath(options.TlsCertificateFile), TlsKeyFile = FullPath(options.TlsKeyFile) };
        options = options with { DataDir = Path.GetFullPath(options.DataDir) };
        if (options.SnapshotterSocket is { Length: > 0 } socket && socket != "off")
            options = options with { SnapshotterSocket = Path.GetFullPath(socket) };
        options.Validate();
        return options;
    }

    private static P2P.PeerProtocol ParseProtocol(string text, string source) => text.ToLowerInvariant() switch
    {
        "framed" => P2P.PeerProtocol.Framed,
        "http" => P2P.PeerProtocol.Http,
        _ => throw new P2PDistException($"{source} '{text}' is not a peer protocol: framed or http"),
    };

    private static List<string> SplitList(string text) => [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static string? FullPath(string? path) => path is null ? null : Path.GetFullPath(path);

    /// <summary>Mutual TLS, or plain text only when asked for; checked when the chunk listener starts (a peer without --listen has no network face).</summary>
    public void RequireTransportSecurity()
    {
        if (TlsCertificateFile is null && !Insecure)
            throw new P2PDistException("a peer with --listen or --supernode needs --tls-cert, --tls-key and --tls-ca (mutual TLS with the cluster CA; see `p2pdist cert`), or --insecure for plain text with no peer identity");
    }

    public void Validate()
    {
        if ((TlsCertificateFile is null) != (TlsKeyFile is null) || (TlsCertificateFile is null) != (TlsCaFile is null))
            throw new P2PDistException("--tls-cert, --tls-key and --tls-ca (or supernodeCaFile) go together: peers and supernodes use mutual TLS with the cluster CA");
        if (Insecure && TlsCertificateFile is not null)
            throw new P2PDistException("--insecure and --tls-cert exclude each other");
        foreach (string? file in new[] { TlsCertificateFile, TlsKeyFile, TlsCaFile })
        {
            if (file is not null && !File.Exists(file))
                throw new P2PDistException($"TLS file {file} does not exist");
        }
        if (UploadMinBytesPerSecond is < 1024 or > 1L << 40)
            throw new P2PDistException($"minimum upload rate {UploadMinBytesPerSecond} B/s must be at least 1024");
        if (ReadTimeoutSeconds is <= 0 or > 3600)
            throw new P2PDistException($"read timeout {ReadTimeoutSeconds} s must be between 0 and 3600");
        if (Supernode is not null && Listen is null)
            throw new P2PDistException("--supernode needs --listen: a peer in the swarm must also serve chunks");
        if (Listen is not null && !System.Net.IPEndPoint.TryParse(Listen, out _))
            throw new P2PDistException($"--listen '{Listen}' is not ADDRESS:PORT");
        if (CacheQuotaBytes < 0)
            throw new P2PDistException($"cache quota {CacheQuotaBytes} must not be negative");
        if (KernelReadaheadKb is < 0 or > 16384)
            throw new P2PDistException($"kernel readahead {KernelReadaheadKb} KiB must be between 0 (the kernel's default) and 16384");
        if (MergeBytes is < 0 or > 64 << 20)
            throw new P2PDistException($"merge size {MergeBytes} must be between 0 and 64 MiB");
        if (UploadSlots is < 1 or > 4096)
            throw new P2PDistException($"upload slots {UploadSlots} must be between 1 and 4096");
        if (UploadBytesPerSecond < 0)
            throw new P2PDistException($"upload rate {UploadBytesPerSecond} must not be negative");
        if (PrefetchConcurrency is < 1 or > 64)
            throw new P2PDistException($"prefetch concurrency {PrefetchConcurrency} must be between 1 and 64");
        if (MetricsListen is not null && !System.Net.IPEndPoint.TryParse(MetricsListen, out _))
            throw new P2PDistException($"--metrics-listen '{MetricsListen}' is not ADDRESS:PORT (or off)");
        if (MetricsListen is not null && Listen is not null && MetricsListen == Listen)
            throw new P2PDistException($"--metrics-listen and --listen are both {Listen}: the chunk port serves chunks only");
        if (ApiGroup is not null && !System.Text.RegularExpressions.Regex.IsMatch(ApiGroup, "^[a-z_][a-z0-9_-]{0,31}$"))
            throw new P2PDistException($"api group '{ApiGroup}' is not a group name");
        if (DaemonLogging.Problem(LogFormat, LogLevel, "peer") is { } logging)
            throw new P2PDistException(logging);
        if (SnapshotterSocketPath is { } snapshotterSocket && System.Text.Encoding.UTF8.GetByteCount(snapshotterSocket) > 107)
            throw new P2PDistException($"snapshotter socket {snapshotterSocket} is longer than a Unix socket path may be (107 bytes): use --snapshotter-socket");
        if (PlainHttpRegistries.Count > 64)
            throw new P2PDistException($"{PlainHttpRegistries.Count} plain-HTTP registries, at most 64");
        foreach (string registry in PlainHttpRegistries)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(registry, "^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$"))
                throw new P2PDistException($"plain-HTTP registry '{registry}' is not HOST or HOST:PORT");
        }
        if (FuseWorkers is < 1 or > 64)
            throw new P2PDistException($"FUSE workers {FuseWorkers} must be between 1 and 64");
    }
}

/// <summary>Flags for the settings a daemon rarely needs changed.</summary>
public sealed record PeerTuningFlags(int? FuseWorkers, int? MergeBytes, bool? Passthrough)
{
    public string? Labels { get; init; }
    public int? UploadSlots { get; init; }
    public long? UploadBytesPerSecond { get; init; }
    public int? PrefetchConcurrency { get; init; }
    public string? SupernodeCaFile { get; init; }
    public string? MetricsListen { get; init; }
    public string? ApiGroup { get; init; }
    public PeerTlsFlags? Tls { get; init; }
    public long? UploadMinBytesPerSecond { get; init; }
    public string? PeerProtocol { get; init; }
    public string? SnapshotterSocket { get; init; }
    public string? PlainHttpRegistries { get; init; }
    public string? LogFormat { get; init; }
    public string? LogLevel { get; init; }
}

/// <summary>--tls-cert, --tls-key, --tls-ca and --insecure.</summary>
public sealed record PeerTlsFlags(string? Certificate, string? Key, string? Ca, bool Insecure);
