using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace P2PDist.Supernode;

/// <summary>`p2pdist supernode`: the scheduler served over gRPC (HTTP/2 without TLS) on the listen address.</summary>
public static class SupernodeHost
{
    public static async Task<int> RunAsync(string listen, TimeSpan peerTimeout, CancellationToken stop)
    {
        if (!System.Net.IPEndPoint.TryParse(listen, out var endpoint))
            throw new P2PDist.Rafs.P2PDistException($"--listen '{listen}' is not ADDRESS:PORT");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(endpoint, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = 4 << 20);
        builder.Services.AddSingleton<SchedulerIndex>();
        await using var app = builder.Build();
        app.MapGrpcService<SchedulerService>();
        await app.StartAsync(stop);
        app.Logger.LogInformation("supernode listening on {Endpoint}; peers silent for {Timeout} s are dropped", endpoint, peerTimeout.TotalSeconds);
        var index = app.Services.GetRequiredService<SchedulerIndex>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
                foreach (var peer in index.Expire(peerTimeout))
                    app.Logger.LogWarning("peer {PeerId} missed its heartbeats: dropped with its holdings", peer);
            }
        }
        catch (OperationCanceledException)
        {
            // SIGTERM or SIGINT.
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }
}
