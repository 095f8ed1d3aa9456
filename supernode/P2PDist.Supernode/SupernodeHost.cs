using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using P2PDist.Security;

namespace P2PDist.Supernode;

/// <summary>
/// `p2pdist supernode`: the scheduler served over gRPC (HTTP/2, TLS when configured) on the listen address,
/// Prometheus metrics on their own address, and a timer that drops peers whose heartbeats stopped (PeerExpiry).
/// </summary>
public static class SupernodeHost
{
    public static async Task<int> RunAsync(SupernodeOptions options, CancellationToken stop)
    {
        var endpoint = System.Net.IPEndPoint.Parse(options.Listen);
        var builder = WebApplication.CreateSlimBuilder();
        DaemonLogging.Configure(builder.Logging, options.LogFormat, options.LogLevel);
        options.RequireTransportSecurity();
        using ClusterTls? tls = options.TlsCertificateFile is null ? null
            : ClusterTls.Load(options.TlsCertificateFile, options.TlsKeyFile!, options.TlsCaFile!, ClusterRole.Supernode);
        if (tls is not null)
            builder.Services.AddSingleton(tls); // CallerIdentity finds it: mutual-TLS mode
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(endpoint, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                if (tls is not null)
                    o.UseHttps(SupernodeTls.HttpsOptions(tls));
            });
            if (options.MetricsListen is not null)
                k.Listen(System.Net.IPEndPoint.Parse(options.MetricsListen), o => o.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddScheduler(SchedulerServices.IndexFor(options, TimeProvider.System));
        await using var app = builder.Build();
        app.MapGrpcService<SchedulerService>();
        var metrics = app.Services.GetRequiredService<SupernodeMetrics>();
        bool ready = false;
        if (options.MetricsListen is not null)
        {
            // The operators' address, as on the peer, ready once the gRPC service listens; the scheduler's port
            // shares this web application, so the routes answer on the metrics port only.
            OperatorEndpoints.Map(app, metrics.Registry.CollectAndExportAsTextAsync, () => Volatile.Read(ref ready),
                host: $"*:{System.Net.IPEndPoint.Parse(options.MetricsListen).Port}");
        }
        await app.StartAsync(stop);
        Volatile.Write(ref ready, true);
        if (tls is null)
            app.Logger.LogWarning("--insecure: serving plain h2c with no peer identity; any client can register, announce and report as any peer");
        app.Logger.LogInformation("supernode listening on {Endpoint} ({Security}); metrics on {Metrics}; peers silent for {Timeout} s are dropped",
            endpoint, tls is null ? "h2c, insecure" : $"mutual TLS as {tls.Identity}", options.MetricsListen is null ? "(off)" : $"http://{options.MetricsListen}/metrics", options.PeerTimeoutSeconds);
        try
        {
            await Task.Delay(Timeout.Infinite, stop); // the expiry timer (PeerExpiry) runs as a hosted service
        }
        catch (OperationCanceledException)
        {
            // SIGTERM or SIGINT.
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }
}
