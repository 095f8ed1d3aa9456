using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PDist.Oci;
using P2PDist.Peer.P2P;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// `p2pdist peer`: the node daemon. Serves its local API (JSON over HTTP on a Unix socket under the data
/// directory) for `mount`, `umount` and `mounts`; remounts what it had at start; unmounts everything on
/// SIGTERM or SIGINT.
/// </summary>
public static class PeerDaemon
{
    public static async Task<int> RunAsync(PeerOptions options, CancellationToken stop)
    {
        Directory.CreateDirectory(options.DataDir);
        if (File.Exists(options.SocketPath))
        {
            if (await PeerApiClient.IsAliveAsync(options.SocketPath))
                throw new P2PDistException($"a peer is already running with data dir {options.DataDir} (socket {options.SocketPath})");
            File.Delete(options.SocketPath);
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenUnixSocket(options.SocketPath);
            if (options.Listen is not null)
                ChunkListenerSecurity.Listen(k, options); // the chunk server for other peers: mutual TLS, or --insecure
            if (options.MetricsListen is not null)
                k.Listen(System.Net.IPEndPoint.Parse(options.MetricsListen));
        });
        await using var app = builder.Build();
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        var log = loggers.CreateLogger("p2pdist.peer");
        var uploads = new UploadLimiter(options.UploadSlots, options.UploadBytesPerSecond) { MinClientBytesPerSecond = options.UploadMinBytesPerSecond };
        using var network = options.Supernode is null ? null
            : new PeerNetwork(new SwarmSettings(PeerTls.PeerId(options), options.Listen!, options.Supernode)
            {
                Labels = options.Labels,
                SupernodeCaFile = options.SupernodeCaFile,
                Tls = PeerTls.Load(options),
            }, uploads, loggers.CreateLogger("p2pdist.peer.swarm"));
        await using var mounts = new MountManager(options, loggers, network);
        var chunkServer = new ChunkServer(mounts.Cache, uploads);
        Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(() =>
        {
            PeerMetrics.CacheHits.IncTo(mounts.Cache.Hits);
            PeerMetrics.CacheMisses.IncTo(mounts.Cache.Misses);
            PeerMetrics.CacheEvictions.IncTo(mounts.Cache.Evictions);
            PeerMetrics.CacheBytes.Set(mounts.Cache.SizeBytes);
            PeerMetrics.UploadsActive.Set(uploads.Active);
            PeerMetrics.Mounts.Set(mounts.Count);
        });

        app.MapGet("/v1/health", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/v1/chunks/{name}", (HttpContext context, string name) => chunkServer.ServeAsync(context, name));
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
        app.MapGet("/v1/mounts", () => Results.Ok(mounts.List()));
        app.MapPost("/v1/mounts", async (MountRequest request, CancellationToken cancellationToken) =>
        {
            try
            {
                return Results.Ok(await mounts.MountAsync(request, cancellationToken));
            }
            catch (Exception e) when (e is P2PDistException or OciException or IOException or UnauthorizedAccessException)
            {
                log.LogWarning("mount of {Reference} at {MountPoint} refused: {Reason}", request.Reference, request.MountPoint, e.Message);
                return Results.BadRequest(new ApiError(e.Message));
            }
        });
        app.MapDelete("/v1/mounts", async (string path, CancellationToken cancellationToken) =>
            await mounts.UnmountAsync(path, forget: true, cancellationToken)
                ? Results.Ok()
                : Results.NotFound(new ApiError($"{Path.GetFullPath(path)} is not a p2pdist mount of this peer")));

        await app.StartAsync(stop);
        File.SetUnixFileMode(options.SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        log.LogInformation("peer running: data dir {DataDir}, API on {Socket}", options.DataDir, options.SocketPath);
        if (network is not null)
        {
            await network.RegisterAsync(stop);
            network.Start();
        }
        await mounts.RestoreAsync(stop);
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
            log.LogInformation("stopping: unmounting everything");
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }
}
