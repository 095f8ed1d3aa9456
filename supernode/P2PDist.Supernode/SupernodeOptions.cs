using P2PDist.Rafs;
using P2PDist.Settings;

namespace P2PDist.Supernode;

/// <summary>
/// The supernode's settings. Precedence: defaults, then <c>--config FILE</c> (YAML or JSON), then
/// P2PDIST_SUPERNODE_-prefixed environment variables, then flags. It keeps no state that cannot be rebuilt
/// from the peers; the data directory holds only what an operator puts there (certificates, say).
/// </summary>
public sealed record SupernodeOptions
{
    public string DataDir { get; init; } = "/var/lib/p2pdist/supernode";

    /// <summary>ADDRESS:PORT of the gRPC API (HTTP/2; TLS when a certificate is given).</summary>
    public string Listen { get; init; } = "127.0.0.1:7700";

    /// <summary>ADDRESS:PORT serving Prometheus metrics at /metrics (plain HTTP/1.1); none by default.</summary>
    public string? MetricsListen { get; init; }

    /// <summary>PEM certificate and key of this supernode (`p2pdist cert issue --supernode`), and the cluster CA: serve gRPC
    /// over mutual TLS, where every peer shows a peer certificate from that CA and acts only under the name it carries.</summary>
    public string? TlsCertificateFile { get; init; }
    public string? TlsKeyFile { get; init; }
    public string? TlsCaFile { get; init; }

    /// <summary>Serve plain h2c with no peer identity (a laptop, tests): anyone can register as any peer. Logged as a warning.</summary>
    public bool Insecure { get; init; }

    /// <summary>
    /// Seconds without a heartbeat after which a peer is dropped with its holdings. Peers beat every 5 s, or a
    /// third of this when that is shorter: the supernode tells them at registration (ProtocolTimings).
    /// </summary>
    public double PeerTimeoutSeconds { get; init; } = 15;

    /// <summary>Seconds a peer reported (by <see cref="ReportersBeforeBlock"/> distinct peers) is left out of holder lists.</summary>
    public double BlockSeconds { get; init; } = 600;

    /// <summary>Peers that may fetch one chunk from the origin at once; the others wait for them.</summary>
    public int OriginFetchersPerChunk { get; init; } = 1;

    /// <summary>Seconds an elected origin fetcher has before another peer is elected.</summary>
    public double OriginLeaseSeconds { get; init; } = 5;

    /// <summary>
    /// Distinct peers that must report a peer (each one it was recently sent to) before it is blocked: one
    /// client alone cannot get an honest peer blocked.
    /// </summary>
    public int ReportersBeforeBlock { get; init; } = 2;

    /// <summary>
    /// Accept loopback chunk-server addresses (127.0.0.0/8, ::1) at registration. Allowed by default because
    /// tests and one-machine clusters use them; a multi-node cluster should turn it off, so that no peer can
    /// point others at their own loopback services. Unspecified, multicast and link-local addresses are always refused.
    /// </summary>
    public bool AllowLoopbackAddresses { get; init; } = true;

    /// <summary>"text" (default) or "json": one JSON object per log line, each event's fields as properties.</summary>
    public string LogFormat { get; init; } = "text";

    /// <summary>trace, debug, information (default), warning, error or critical.</summary>
    public string LogLevel { get; init; } = "information";

    public static SupernodeOptions Load(string? configFile, IDictionary<string, string?> environment, SupernodeOptions? flags)
    {
        var options = configFile is null ? new SupernodeOptions() : SettingsFile.Read<SupernodeOptions>(configFile);
        string? Env(string name) => environment.TryGetValue("P2PDIST_SUPERNODE_" + name, out var value) && !string.IsNullOrEmpty(value) ? value : null;
        double? EnvSeconds(string name) => Env(name) is { } text && double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out double value) ? value : null;
        options = options with
        {
            DataDir = Env("DATA_DIR") ?? options.DataDir,
            Listen = Env("LISTEN") ?? options.Listen,
            MetricsListen = Env("METRICS") ?? options.MetricsListen,
            TlsCertificateFile = Env("TLS_CERT") ?? options.TlsCertificateFile,
            TlsKeyFile = Env("TLS_KEY") ?? options.TlsKeyFile,
            TlsCaFile = Env("TLS_CA") ?? options.TlsCaFile,
            Insecure = Env("INSECURE") is { } insecure ? bool.TryParse(insecure, out bool yes) && yes : options.Insecure,
            PeerTimeoutSeconds = EnvSeconds("PEER_TIMEOUT_SECONDS") ?? options.PeerTimeoutSeconds,
            BlockSeconds = EnvSeconds("BLOCK_SECONDS") ?? options.BlockSeconds,
            ReportersBeforeBlock = Env("REPORTERS_BEFORE_BLOCK") is { } reporters && int.TryParse(reporters, System.Globalization.CultureInfo.InvariantCulture, out int k) ? k : options.ReportersBeforeBlock,
            AllowLoopbackAddresses = Env("ALLOW_LOOPBACK") is { } loopback ? loopback is "1" or "true" or "yes" : options.AllowLoopbackAddresses,
            LogFormat = Env("LOG_FORMAT") ?? options.LogFormat,
            LogLevel = Env("LOG_LEVEL") ?? options.LogLevel,
        };
        if (flags is not null)
            options = Overlay(options, flags);
        options.Validate();
        return options;
    }

    /// <summary>Flags win where they differ from the defaults.</summary>
    private static SupernodeOptions Overlay(SupernodeOptions options, SupernodeOptions flags)
    {
        var defaults = new SupernodeOptions();
        return options with
        {
            DataDir = flags.DataDir != defaults.DataDir ? flags.DataDir : options.DataDir,
            Listen = flags.Listen != defaults.Listen ? flags.Listen : options.Listen,
            MetricsListen = flags.MetricsListen ?? options.MetricsListen,
            TlsCertificateFile = flags.TlsCertificateFile ?? options.TlsCertificateFile,
            TlsKeyFile = flags.TlsKeyFile ?? options.TlsKeyFile,
            TlsCaFile = flags.TlsCaFile ?? options.TlsCaFile,
            Insecure = flags.Insecure || options.Insecure,
            LogFormat = flags.LogFormat != defaults.LogFormat ? flags.LogFormat : options.LogFormat,
            LogLevel = flags.LogLevel != defaults.LogLevel ? flags.LogLevel : options.LogLevel,
            PeerTimeoutSeconds = flags.PeerTimeoutSeconds != defaults.PeerTimeoutSeconds ? flags.PeerTimeoutSeconds : options.PeerTimeoutSeconds,
            BlockSeconds = flags.BlockSeconds != defaults.BlockSeconds ? flags.BlockSeconds : options.BlockSeconds,
            OriginFetchersPerChunk = flags.OriginFetchersPerChunk != defaults.OriginFetchersPerChunk ? flags.OriginFetchersPerChunk : options.OriginFetchersPerChunk,
            OriginLeaseSeconds = flags.OriginLeaseSeconds != defaults.OriginLeaseSeconds ? flags.OriginLeaseSeconds : options.OriginLeaseSeconds,
            ReportersBeforeBlock = flags.ReportersBeforeBlock != defaults.ReportersBeforeBlock ? flags.ReportersBeforeBlock : options.ReportersBeforeBlock,
            AllowLoopbackAddresses = flags.AllowLoopbackAddresses != defaults.AllowLoopbackAddresses ? flags.AllowLoopbackAddresses : options.AllowLoopbackAddresses,
        };
    }

    /// <summary>Mutual TLS, or plain text only when asked for: called when the daemon starts (a settings file alone may name neither).</summary>
    public void RequireTransportSecurity()
    {
        if (TlsCertificateFile is null && !Insecure)
            throw new P2PDistException("the supernode needs --tls-cert, --tls-key and --tls-ca (mutual TLS with the cluster CA; see `p2pdist cert`), or --insecure to serve plain h2c with no peer identity");
    }

    public void Validate()
    {
        if (DaemonLogging.Problem(LogFormat, LogLevel, "supernode") is { } logging)
            throw new P2PDistException(logging);
        if (!System.Net.IPEndPoint.TryParse(Listen, out _))
            throw new P2PDistException($"--listen '{Listen}' is not ADDRESS:PORT");
        if (MetricsListen is not null && !System.Net.IPEndPoint.TryParse(MetricsListen, out _))
            throw new P2PDistException($"--metrics '{MetricsListen}' is not ADDRESS:PORT");
        if ((TlsCertificateFile is null) != (TlsKeyFile is null))
            throw new P2PDistException("--tls-cert and --tls-key go together");
        if ((TlsCertificateFile is null) != (TlsCaFile is null))
            throw new P2PDistException("--tls-cert, --tls-key and --tls-ca go together: peers and the supernode use mutual TLS with the cluster CA");
        if (Insecure && TlsCertificateFile is not null)
            throw new P2PDistException("--insecure and --tls-cert exclude each other");
        foreach (var file in new[] { TlsCertificateFile, TlsKeyFile, TlsCaFile })
        {
            if (file is not null && !File.Exists(file))
                throw new P2PDistException($"TLS file {file} does not exist");
        }
        if (PeerTimeoutSeconds is <= 0 or > 86400)
            throw new P2PDistException($"peer timeout {PeerTimeoutSeconds} s must be between 0 and 86400");
        if (BlockSeconds is < 0 or > 86400 * 7)
            throw new P2PDistException($"block time {BlockSeconds} s must be between 0 and a week");
        if (OriginFetchersPerChunk is < 1 or > 64)
            throw new P2PDistException($"origin fetchers per chunk {OriginFetchersPerChunk} must be between 1 and 64");
        if (OriginLeaseSeconds is <= 0 or > 600)
            throw new P2PDistException($"origin lease {OriginLeaseSeconds} s must be between 0 and 600");
        if (ReportersBeforeBlock is < 1 or > 64)
            throw new P2PDistException($"reporters before a block {ReportersBeforeBlock} must be between 1 and 64");
        try
        {
            SchedulerServices.TimingsFor(this).Validate();
        }
        catch (ArgumentException e)
        {
            throw new P2PDistException($"protocol timings: {e.Message}");
        }
    }
}
