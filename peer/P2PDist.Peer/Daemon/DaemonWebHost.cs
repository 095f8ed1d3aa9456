using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// One web application per interface of the daemon (local API socket, chunk port, metrics port), so a route
/// exists only where it belongs: nothing served on a network port can mount, unmount or list.
/// </summary>
internal static class DaemonWebHost
{
    public static WebApplication Build(Action<KestrelServerOptions> listen, PeerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        DaemonLogging.Configure(builder.Logging, options.LogFormat, options.LogLevel);
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Bounded requests: neighbours and scrapers send small GETs; the local API sends small JSON bodies.
            k.Limits.MaxRequestBodySize = 64 << 10;
            k.Limits.MaxRequestHeadersTotalSize = 16 << 10;
            k.Limits.MaxRequestHeaderCount = 32;
            k.Limits.MaxRequestLineSize = 4 << 10;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            k.AddServerHeader = false;
            listen(k);
        });
        return builder.Build();
    }

}
