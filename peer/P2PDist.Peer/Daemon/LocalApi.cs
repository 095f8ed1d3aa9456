using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The management API, JSON over HTTP on the daemon's Unix socket and nowhere else (as nydusd's --apisock and
/// dfdaemon's download socket): mount, unmount, list, health and metrics. Every connection's caller is checked
/// with SO_PEERCRED before a route runs; every mount request is validated before it touches the file system.
/// </summary>
internal static class LocalApi
{
    public static void Map(WebApplication app, MountManager mounts, PeerOptions options, uint? apiGroup, ILogger log, Prometheus.CollectorRegistry metrics)
    {
        app.Use(async (context, next) =>
        {
            var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
            var caller = socket is null ? null : PeerCredentials.Of(socket);
            if (caller is not { } who || !PeerCredentials.IsAllowed(who, apiGroup))
            {
                log.LogWarning("local API: refused a caller (uid {Uid}, pid {Pid}): only root{Group} may use it",
                    caller?.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown", caller?.Pid ?? 0,
                    apiGroup is null ? "" : " and the API group");
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsJsonAsync(new ApiError("the peer's API serves root (and the configured API group) only"));
                return;
            }
            await next(context);
        });
        app.MapGet("/v1/health", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/metrics", (HttpContext context) => MetricsEndpoint.WriteAsync(context, metrics));
        app.MapGet("/v1/mounts", () => Results.Ok(mounts.List()));
        app.MapPost("/v1/mounts", async (MountRequest request, CancellationToken requestAborted) =>
        {
            try
            {
                var valid = MountRequestValidator.Validate(request, options, mounts.IsOurs);
                // A mount under way ends with the daemon, not only with its caller.
                using var cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, app.Lifetime.ApplicationStopping);
                return Results.Ok(await mounts.MountAsync(valid, cancel.Token));
            }
            catch (Exception e) when (e is P2PDistException or OciException or IOException or UnauthorizedAccessException)
            {
                log.LogWarning("mount of {Reference} at {MountPoint} refused: {Reason}",
                    LogText.Clip(request.Reference), LogText.Clip(request.MountPoint), e.Message);
                return Results.BadRequest(new ApiError(e.Message));
            }
        });
        app.MapDelete("/v1/mounts", async (string path, CancellationToken cancellationToken) =>
            path.Length is 0 or > 4096 || !Path.IsPathFullyQualified(path)
                ? Results.BadRequest(new ApiError("path: must be an absolute mount point of at most 4096 characters"))
                : await mounts.UnmountAsync(path, forget: true, cancellationToken)
                    ? Results.Ok()
                    : Results.NotFound(new ApiError($"{LogText.Clip(Path.GetFullPath(path))} is not a p2pdist mount of this peer")));
    }
}
