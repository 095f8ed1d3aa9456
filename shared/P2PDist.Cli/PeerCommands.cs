using System.CommandLine;
using System.Runtime.InteropServices;
using P2PDist.Peer.Daemon;

namespace P2PDist.Cli;

/// <summary>`p2pdist peer`, `mount`, `umount`, `mounts`: the node daemon and the commands that talk to it.</summary>
internal static class PeerCommands
{
    private sealed class DaemonFlags
    {
        public Option<string?> DataDir { get; } = new("--data-dir") { Description = "Where the peer keeps its cache, state and socket (default /var/lib/p2pdist/peer; env P2PDIST_DATA_DIR)" };
        public Option<string?> Config { get; } = new("--config") { Description = "Settings file, YAML or JSON (every setting, commented: deploy/peer.example.yaml)" };

        public void AddTo(Command command)
        {
            command.Options.Add(DataDir);
            command.Options.Add(Config);
        }

        public PeerOptions Read(ParseResult parse, double? readTimeout = null, bool? prefetchAll = null, long? cacheQuota = null,
            string? supernode = null, string? listen = null, PeerTuningFlags? tuning = null) =>
            PeerOptions.Load(parse.GetValue(Config), Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value), parse.GetValue(DataDir), readTimeout, prefetchAll, cacheQuota, supernode, listen, tuning);
    }

    public static IEnumerable<Command> Create() => [Peer(), Mount(), Umount(), Mounts(), Supernode()];

    /// <summary>A second signal can arrive while the daemon is already shutting down and the source is gone.</summary>
    private static void CancelQuietly(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already stopped.
        }
    }

    private static Command Supernode()
    {
        var config = new Option<string?>("--config") { Description = "Settings file, YAML or JSON (every setting, commented: deploy/supernode.example.yaml)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Directory for the supernode's files (default /var/lib/p2pdist/supernode; env P2PDIST_SUPERNODE_DATA_DIR)" };
        var listen = new Option<string?>("--listen") { Description = "ADDRESS:PORT to serve the scheduler's gRPC API on, HTTP/2 (default 127.0.0.1:7700; env P2PDIST_SUPERNODE_LISTEN)" };
        var metrics = new Option<string?>("--metrics") { Description = "ADDRESS:PORT to serve Prometheus metrics on at /metrics (env P2PDIST_SUPERNODE_METRICS)" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM supernode certificate (p2pdist cert issue --supernode): serve gRPC over mutual TLS (with --tls-key, --tls-ca; env P2PDIST_SUPERNODE_TLS_CERT)" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert (env P2PDIST_SUPERNODE_TLS_KEY)" };
        var tlsCa = new Option<string?>("--tls-ca") { Description = "PEM cluster CA: callers must show a peer certificate it signed, and act only as the peer it names (env P2PDIST_SUPERNODE_TLS_CA)" };
        var insecure = new Option<bool>("--insecure") { Description = "Serve plain h2c with no peer identity (a laptop, tests); logged as a warning (env P2PDIST_SUPERNODE_INSECURE)" };
        var peerTimeout = new Option<double?>("--peer-timeout") { Description = "Seconds without a heartbeat after which a peer is dropped with its holdings; peers beat every 5 s (default 15)" };
        var block = new Option<double?>("--block-seconds") { Description = "Seconds a peer reported for a bad digest or 3 timeouts is left out of holder lists (default 600)" };
        var originFetchers = new Option<int?>("--origin-fetchers") { Description = "Peers that may fetch one chunk from the origin at once; others wait for them (default 1)" };
        var logFormat = new Option<string?>("--log-format") { Description = "text (default) or json: one JSON object per line, each event's fields as properties (env P2PDIST_SUPERNODE_LOG_FORMAT)" };
        var logLevel = new Option<string?>("--log-level") { Description = "trace, debug, information (default), warning, error or critical (env P2PDIST_SUPERNODE_LOG_LEVEL)" };
        var command = new Command("supernode", "Run the cluster's scheduler: which peer holds which chunk, ranked holders for a requester")
        {
            config, dataDir, listen, metrics, tlsCert, tlsKey, tlsCa, insecure, peerTimeout, block, originFetchers, logFormat, logLevel,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var defaults = new P2PDist.Supernode.SupernodeOptions();
            var flags = new P2PDist.Supernode.SupernodeOptions
            {
                DataDir = parse.GetValue(dataDir) ?? defaults.DataDir,
                Listen = parse.GetValue(listen) ?? defaults.Listen,
                MetricsListen = parse.GetValue(metrics),
                TlsCertificateFile = parse.GetValue(tlsCert) is { } cert ? Path.GetFullPath(cert) : null,
                TlsKeyFile = parse.GetValue(tlsKey) is { } key ? Path.GetFullPath(key) : null,
                TlsCaFile = parse.GetValue(tlsCa) is { } ca ? Path.GetFullPath(ca) : null,
                Insecure = parse.GetValue(insecure),
                PeerTimeoutSeconds = parse.GetValue(peerTimeout) ?? defaults.PeerTimeoutSeconds,
                BlockSeconds = parse.GetValue(block) ?? defaults.BlockSeconds,
                OriginFetchersPerChunk = parse.GetValue(originFetchers) ?? defaults.OriginFetchersPerChunk,
                LogFormat = parse.GetValue(logFormat) ?? defaults.LogFormat,
                LogLevel = parse.GetValue(logLevel) ?? defaults.LogLevel,
            };
            var options = P2PDist.Supernode.SupernodeOptions.Load(parse.GetValue(config), Environment.GetEnvironmentVariables()
                .Cast<System.Collections.DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value), flags);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                CancelQuietly(stop);
            });
            return await P2PDist.Supernode.SupernodeHost.RunAsync(options, stop.Token);
        });
        return command;
    }

    private static Command Peer()
    {
        var flags = new DaemonFlags();
        var readTimeout = new Option<double?>("--read-timeout") { Description = "Seconds a read may wait for its chunks before failing with EIO (default 30; env P2PDIST_READ_TIMEOUT_SECONDS)" };
        var prefetchAll = new Option<bool?>("--prefetch-all") { Description = "After the image's prefetch table, fetch the rest of each mounted image in the background (env P2PDIST_PREFETCH_ALL)" };
        var cacheQuota = new Option<string?>("--cache-quota") { Description = "Chunk cache size limit, e.g. 500M or 20G; least recently used chunks of closed files are evicted past it (default 20G; env P2PDIST_CACHE_QUOTA_BYTES)" };
        var supernode = new Option<string?>("--supernode") { Description = "The cluster's supernodes, ADDRESS:PORT[,ADDRESS:PORT...]: blobs are spread over them by consistent hashing, with failover (env P2PDIST_SUPERNODE); needs --listen" };
        var listen = new Option<string?>("--listen") { Description = "ADDRESS:PORT where this peer serves chunks to other peers; also the source address of its peer connections (env P2PDIST_LISTEN)" };
        var fuseWorkers = new Option<int?>("--fuse-workers") { Description = "FUSE worker threads per mount (default 4)" };
        var mergeSize = new Option<string?>("--merge-size") { Description = "Largest origin request, the ceiling of the readahead of files read in sequence, e.g. 2M (default 2M; 0: one chunk per request)" };
        var passthrough = new Option<bool?>("--passthrough") { Description = "Serve fully cached files through FUSE passthrough (default true; env P2PDIST_PASSTHROUGH)" };
        var labels = new Option<string?>("--labels") { Description = "Locality labels for the supernode, e.g. zone=a,rack=r1: holders in the same zone rank first (env P2PDIST_LABELS)" };
        var uploadSlots = new Option<int?>("--upload-slots") { Description = "Uploads to other peers served at once (default 16); more get 503 and try another holder" };
        var uploadRate = new Option<string?>("--upload-rate") { Description = "Upload bandwidth to other peers per second, e.g. 25M (bytes; default unlimited; env P2PDIST_UPLOAD_BYTES_PER_SECOND)" };
        var prefetchConcurrency = new Option<int?>("--prefetch-concurrency") { Description = "Chunks a whole-image prefetch fetches at once (default 8)" };
        var supernodeCa = new Option<string?>("--supernode-ca") { Description = "Former name of --tls-ca" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM peer certificate (p2pdist cert issue --peer NAME; NAME is this peer's id): mutual TLS to peers and supernodes (env P2PDIST_TLS_CERT)" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert (env P2PDIST_TLS_KEY)" };
        var tlsCa = new Option<string?>("--tls-ca") { Description = "PEM cluster CA: the only root trusted for peers and supernodes (env P2PDIST_TLS_CA)" };
        var insecure = new Option<bool>("--insecure") { Description = "With --listen/--supernode but no TLS: plain text, no peer identity (a laptop, tests); logged as a warning (env P2PDIST_INSECURE)" };
        var uploadMinRate = new Option<string?>("--upload-min-rate") { Description = "Slowest a client may read an upload, per second, e.g. 64K: a slower reader loses its slot (default 64K)" };
        var metrics = new Option<string?>("--metrics-listen", "--metrics") { Description = $"ADDRESS:PORT for Prometheus metrics (/metrics) and health (/healthz, /readyz), read-only; off for none (default {PeerOptions.DefaultMetricsListen}; env P2PDIST_METRICS_LISTEN)" };
        var logFormat = new Option<string?>("--log-format") { Description = "text (default) or json: one JSON object per line, each event's fields as properties (env P2PDIST_LOG_FORMAT)" };
        var logLevel = new Option<string?>("--log-level") { Description = "trace, debug, information (default), warning, error or critical (env P2PDIST_LOG_LEVEL)" };
        var peerProtocol = new Option<string?>("--peer-protocol") { Description = "How chunks are asked of neighbours: framed (default; long-lived connections) or http (HTTP/1.1); every peer serves both (env P2PDIST_PEER_PROTOCOL)" };
        var snapshotterSocket = new Option<string?>("--snapshotter-socket") { Description = "Where to serve containerd's snapshotter (proxy plugin address; default snapshotter.sock in the data dir; off for none; env P2PDIST_SNAPSHOTTER_SOCKET)" };
        var plainHttpRegistries = new Option<string?>("--plain-http-registries") { Description = "HOST[:PORT],... the snapshotter reaches over plain HTTP when containerd does not say (CRI never does; env P2PDIST_PLAIN_HTTP_REGISTRIES)" };
        var apiGroup = new Option<string?>("--api-group") { Description = "A group whose members may use the local API socket besides root (socket 0660; env P2PDIST_API_GROUP)" };
        var command = new Command("peer", "Run the node's peer daemon: FUSE mounts of Rafs images and the chunk cache")
        {
            readTimeout, prefetchAll, cacheQuota, supernode, listen, fuseWorkers, mergeSize, passthrough,
            labels, uploadSlots, uploadRate, prefetchConcurrency, supernodeCa, metrics, apiGroup, tlsCert, tlsKey, tlsCa, insecure, uploadMinRate, peerProtocol, logFormat, logLevel, snapshotterSocket, plainHttpRegistries,
        };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = flags.Read(parse, parse.GetValue(readTimeout), parse.GetValue(prefetchAll),
                parse.GetValue(cacheQuota) is { } quota ? SizeParser.ParseLong(quota, "--cache-quota") : null,
                parse.GetValue(supernode), parse.GetValue(listen),
                new PeerTuningFlags(parse.GetValue(fuseWorkers), parse.GetValue(mergeSize) is { } merge ? (int)SizeParser.ParseLong(merge, "--merge-size") : null,
                    parse.GetValue(passthrough))
                {
                    Labels = parse.GetValue(labels),
                    UploadSlots = parse.GetValue(uploadSlots),
                    UploadBytesPerSecond = parse.GetValue(uploadRate) is { } rate ? SizeParser.ParseLong(rate, "--upload-rate") : null,
                    PrefetchConcurrency = parse.GetValue(prefetchConcurrency),
                    SupernodeCaFile = parse.GetValue(supernodeCa),
                    MetricsListen = parse.GetValue(metrics),
                    ApiGroup = parse.GetValue(apiGroup),
                    Tls = new PeerTlsFlags(parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(tlsCa), parse.GetValue(insecure)),
                    UploadMinBytesPerSecond = parse.GetValue(uploadMinRate) is { } minRate ? SizeParser.ParseLong(minRate, "--upload-min-rate") : null,
                    PeerProtocol = parse.GetValue(peerProtocol),
                    SnapshotterSocket = parse.GetValue(snapshotterSocket),
                    PlainHttpRegistries = parse.GetValue(plainHttpRegistries),
                    LogFormat = parse.GetValue(logFormat),
                    LogLevel = parse.GetValue(logLevel),
                });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                CancelQuietly(stop);
            });
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
            {
                context.Cancel = true;
                CancelQuietly(stop);
            });
            return await PeerDaemon.RunAsync(options, stop.Token);
        });
        return command;
    }

    private static Command Mount()
    {
        var flags = new DaemonFlags();
        var registry = new RegistryFlags();
        var image = new Argument<string>("REF") { Description = "Rafs image: host[:port]/repo[:tag|@sha256:...]" };
        var directory = new Argument<string>("DIR") { Description = "Existing, empty directory to mount the image at (read-only, nosuid, nodev); with --container-root, a name" };
        var platform = new Option<string>("--platform") { Description = "Platform to pick from an image index", DefaultValueFactory = _ => "linux/amd64" };
        var containerRoot = new Option<bool>("--container-root")
        {
            Description = "Mount as a container's root file system: setuid bits and devices keep their meaning, so the mount goes under the daemon's 0700 DATA_DIR/roots/DIR (DIR is a name); the mount point is printed",
        };
        var command = new Command("mount", "Mount a Rafs image lazily through the peer daemon") { image, directory, platform, containerRoot };
        flags.AddTo(command);
        registry.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = flags.Read(parse);
            var registryOptions = registry.Read(parse);
            using var client = new PeerApiClient(options.SocketPath, TimeSpan.FromMinutes(5));
            var info = await client.MountAsync(new MountRequest
            {
                Reference = parse.GetValue(image)!,
                MountPoint = parse.GetValue(containerRoot) ? parse.GetValue(directory)! : Path.GetFullPath(parse.GetValue(directory)!),
                ContainerRoot = parse.GetValue(containerRoot),
                PlainHttp = registryOptions.PlainHttp,
                Username = registryOptions.Username,
                Password = registryOptions.Password,
                CaCertificateFile = registryOptions.CaCertificateFile is { } ca ? Path.GetFullPath(ca) : null,
                Platform = parse.GetValue(platform)!,
            }, cancellationToken);
            Console.WriteLine($"mounted {info.Reference} ({info.ManifestDigest}) at {info.MountPoint}");
            return 0;
        });
        return command;
    }

    private static Command Umount()
    {
        var flags = new DaemonFlags();
        var directory = new Argument<string>("DIR") { Description = "The mount point" };
        var command = new Command("umount", "Unmount a Rafs image mounted by the peer daemon") { directory };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = new PeerApiClient(flags.Read(parse).SocketPath, TimeSpan.FromSeconds(30));
            await client.UnmountAsync(parse.GetValue(directory)!, cancellationToken);
            Console.WriteLine($"unmounted {Path.GetFullPath(parse.GetValue(directory)!)}");
            return 0;
        });
        return command;
    }

    private static Command Mounts()
    {
        var flags = new DaemonFlags();
        var json = new Option<bool>("--json") { Description = "Print the mounts and all their counters as JSON" };
        var command = new Command("mounts", "List the peer daemon's mounts with bytes read, bytes fetched and cache hit ratio") { json };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = new PeerApiClient(flags.Read(parse).SocketPath, TimeSpan.FromSeconds(30));
            var mounts = await client.ListAsync(cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(mounts, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            Console.WriteLine($"{"MOUNTPOINT",-40} {"IMAGE",-40} {"READ",14} {"FETCHED",14} {"IMAGE SIZE",14} {"HIT RATIO",9} {"ERRORS",6} {"PASSTHROUGH",11} {"FROM PEERS",14}");
            foreach (var m in mounts)
            {
                double ratio = m.CacheHits + m.CacheMisses == 0 ? 0 : (double)m.CacheHits / (m.CacheHits + m.CacheMisses);
                Console.WriteLine($"{m.MountPoint,-40} {m.Reference,-40} {m.BytesRead,14:N0} {m.BytesFetched,14:N0} {m.ImageBytes,14:N0} {ratio,9:P1} {m.ReadErrors + m.DigestFailures,6} {m.PassthroughOpens,11} {m.BytesFromPeers,14:N0}");
            }
            return 0;
        });
        return command;
    }
}
