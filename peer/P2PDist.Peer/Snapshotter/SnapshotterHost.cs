using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PDist.Peer.Daemon;
using P2PDist.Rafs;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// The snapshotter's own web application: gRPC over HTTP/2 cleartext on a Unix socket only (mode 0600: root,
/// i.e. containerd, is its only client), never on a network port.
/// </summary>
public static class SnapshotterHost
{
    public static WebApplication Build(string socketPath, PeerOptions options, MountManager mounts, ILoggerFactory loggers, TimeProvider clock, SnapshotterMetrics metrics)
    {
        if (File.Exists(socketPath))
            File.Delete(socketPath); // the API socket's liveness check has already shown no other daemon owns this data dir
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        Directory.CreateDirectory(options.SnapshotsDir);
        var builder = WebApplication.CreateSlimBuilder();
        DaemonLogging.Configure(builder.Logging, options.LogFormat, options.LogLevel);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 1 << 20;
            k.Limits.Http2.MaxStreamsPerConnection = 256;
            k.AddServerHeader = false;
            k.ListenUnixSocket(socketPath, listen => listen.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = 1 << 20;
            grpc.EnableDetailedErrors = true; // the messages name the snapshot and the layer; containerd logs them
        });
        var log = loggers.CreateLogger("p2pdist.peer.snapshotter");
        var store = new SnapshotStore(Path.Combine(options.SnapshotsDir, "metadata.json"));
        var layout = new SnapshotLayout(Path.Combine(options.SnapshotsDir, "dirs"));
        Directory.CreateDirectory(layout.Root);
        var service = new SnapshotterService(store, layout, new ImageMounts(mounts, options, log),
            RemoteLayerProbe.ForRegistries(TimeSpan.FromSeconds(Math.Min(options.ReadTimeoutSeconds, 30)), options.PlainHttpRegistries), clock, log, metrics);
        builder.Services.AddSingleton(service);
        var app = builder.Build();
        app.MapGrpcService<SnapshotterService>();
        return app;
    }

    public static void Secure(string socketPath)
    {
        if (!File.Exists(socketPath))
            throw new P2PDistException($"the snapshotter socket {socketPath} was not created");
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
