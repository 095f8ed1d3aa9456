using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The read-only network face for operators, on its own --metrics-listen address (loopback by default):
/// Prometheus text at /metrics, liveness at /healthz, readiness at /readyz. Nothing else answers there.
/// </summary>
internal static class MetricsEndpoint
{
    public static void Map(WebApplication app, Prometheus.CollectorRegistry registry, Func<bool> ready) =>
        OperatorEndpoints.Map(app, registry.CollectAndExportAsTextAsync, ready);

    public static async Task WriteAsync(HttpContext context, Prometheus.CollectorRegistry registry)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
    }
}
