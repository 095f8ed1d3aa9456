using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace P2PDist;

/// <summary>
/// The read-only face both daemons give operators on their metrics address: Prometheus text at /metrics,
/// liveness at /healthz, readiness at /readyz (503 until <c>ready</c> says so), as the Kubernetes probes ask.
/// </summary>
public static class OperatorEndpoints
{
    /// <param name="writeMetrics">Writes the daemon's own registry as Prometheus text.</param>
    /// <param name="host">When the address shares its web application with another listener: only requests to this host pattern.</param>
    public static void Map(WebApplication app, Func<Stream, CancellationToken, Task> writeMetrics, Func<bool> ready, string? host = null)
    {
        var routes = new[]
        {
            app.MapGet("/metrics", async (HttpContext context) =>
            {
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await writeMetrics(context.Response.Body, context.RequestAborted);
            }),
            app.MapGet("/healthz", () => Results.Text("ok\n")),
            app.MapGet("/readyz", () => ready() ? Results.Text("ready\n") : Results.Text("starting\n", statusCode: StatusCodes.Status503ServiceUnavailable)),
        };
        if (host is not null)
        {
            foreach (var route in routes)
                route.RequireHost(host);
        }
    }
}
