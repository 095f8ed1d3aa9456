using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PDist.Peer.P2P;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// `p2pdist peer`: the node daemon. Three interfaces, each its own web application so a route exists only
/// where it belongs: the management API on a Unix socket under the data directory (root, or the API group);
/// the chunk server on --listen (chunk reads for neighbours and nothing else); metrics and health on
/// --metrics-listen (loopback by default, read-only). Remounts what it had at start; unmounts everything on
/// SIGTERM or SIGINT.
/// </summary>
public static class PeerDaemon
{
    public static async Task<int> RunAsync(PeerOptions options, CancellationToken stop)
    {
        DataDirectory.Secure(options.DataDir);
        uint? apiGroup = options.ApiGroup is { } group ? PeerCredentials.GroupId(group) : null;
        if (File.Exists(options.SocketPath))
        {
            if (await PeerApiClient.IsAliveAsync(options.SocketPath))
                throw new P2PDistException($"a peer is already running with data dir {options.DataDir} (socket {options.SocketPath})");
            File.Delete(options.SocketPath);
        }
        await using var local = DaemonWebHost.Build(k => k.ListenUnixSocket(options.SocketPath), options);
        var loggers = local.Services.GetRequiredService<ILoggerFactory>();
        var log = loggers.CreateLogger("p2pdist.peer");
        var metrics = new PeerMetrics(options.CacheQuotaBytes);
        var uploads = new UploadLimiter(options.UploadSlots, options.UploadBytesPerSecond) { MinClientBytesPerSecond = options.UploadMinBytesPerSecond };
        using var network = options.Supernode is null ? null
            : new PeerNetwork(new SwarmSettings(PeerTls.PeerId(options), options.Listen!, options.Supernode)
            {
                Labels = options.Labels,
                SupernodeCaFile = options.SupernodeCaFile,
                Tls = PeerTls.Load(options),
                Protocol = options.PeerProtocol,
            }, uploads, loggers.CreateLogger("p2pdist.peer.swarm"), metrics.Swarm);
        await using var mounts = new MountManager(options, loggers, metrics, network);
        metrics.RefreshBeforeScrape(() => mounts.Cache, () => mounts.Count, () => uploads.Active);
        LocalApi.Map(local, mounts, options, apiGroup, log, metrics.Registry);

        var chunkServer = new ChunkServer(mounts.Cache, uploads, metrics.Swarm);
        // One port, both chunk protocols (framed and HTTP/1.1), inside mutual TLS or --insecure.
        await using var chunks = options.Listen is null ? null
            : DaemonWebHost.Build(k => ChunkListenerSecurity.Listen(k, options, new P2P.Wire.FramedChunkServer(chunkServer)), options);
        chunks?.MapGet("/v1/chunks/{name}", (HttpContext context, string name) => chunkServer.ServeAsync(context, name));
        bool ready = false;
        await using var metricsHost = options.MetricsListen is null ? null
            : DaemonWebHost.Build(k => k.Listen(System.Net.IPEndPoint.Parse(options.MetricsListen)), options);
        if (metricsHost is not null)
            MetricsEndpoint.Map(metricsHost, metrics.Registry, () => Volatile.Read(ref ready));

        await local.StartAsync(stop);
        SecureSocket(options.SocketPath, apiGroup);
        if (chunks is not null)
            await chunks.StartAsync(stop);
        if (metricsHost is not null)
            await metricsHost.StartAsync(stop);
        log.LogInformation("peer running: data dir {DataDir}, API on {Socket}, chunks on {Listen}, metrics on {Metrics}", options.DataDir, options.SocketPath,
            options.Listen ?? "(off)", options.MetricsListen is null ? "(off)" : $"http://{options.MetricsListen}/metrics");
        log.LogInformation("chunk decompression: {Decoder}", ChunkCodec.ZstdDecoderName);
        if (network is not null)
        {
            await network.RegisterAsync(stop);
            network.Start();
        }
        await mounts.RestoreAsync(stop);
        // After the restore: the images under containers' snapshots are mounted again before containerd asks for them.
        await using var snapshotter = options.SnapshotterSocketPath is { } snapshotterSocket
            ? Snapshotter.SnapshotterHost.Build(snapshotterSocket, options, mounts, loggers, TimeProvider.System, metrics.Snapshotter) : null;
        if (snapshotter is not null)
        {
            await snapshotter.StartAsync(stop);
            Snapshotter.SnapshotterHost.Secure(options.SnapshotterSocketPath!);
            log.LogInformation("containerd snapshotter on {Socket}", options.SnapshotterSocketPath);
        }
        Volatile.Write(ref ready, true);
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
            log.LogInformation("stopping: unmounting everything");
        }
        if (snapshotter is not null)
            await snapshotter.StopAsync(CancellationToken.None);
        if (metricsHost is not null)
            await metricsHost.StopAsync(CancellationToken.None);
        if (chunks is not null)
            await chunks.StopAsync(CancellationToken.None);
        await local.StopAsync(CancellationToken.None);
        return 0;
    }

    /// <summary>The socket is root's (0600), or shared with the API group (0660).</summary>
    private static void SecureSocket(string socketPath, uint? apiGroup)
    {
        if (apiGroup is { } group)
        {
            if (PeerCredentials.Chown(socketPath, -1, (int)group) != 0)
                throw new P2PDistException($"cannot give the API socket {socketPath} to group {group}");
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        }
        else
        {
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
