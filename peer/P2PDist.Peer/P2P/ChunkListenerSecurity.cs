using System.Net;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PDist.Peer.Daemon;
using P2PDist.Security;

namespace P2PDist.Peer.P2P;

/// <summary>
/// The chunk listener (<c>--listen</c>) as other peers reach it. With mutual TLS (review findings M2, M4) it is
/// HTTPS over HTTP/1.1 (measured faster than h2 for chunks, again on 2026-12-02: h2 stalled transfers
/// and raised origin egress to 1.17 copies; see bench/RESULTS.md for what TLS costs in CPU) and admits only clients showing a peer certificate
/// of this cluster: no anonymous chunk reads, nothing in clear text. Plain HTTP only with --insecure. Either
/// way the connections it holds are capped, in all and per remote address (M3).
/// </summary>
public static class ChunkListenerSecurity
{
    public static void Listen(KestrelServerOptions kestrel, PeerOptions options, Wire.FramedChunkServer framed)
    {
        options.RequireTransportSecurity();
        var log = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("p2pdist.peer.chunks");
        var tls = PeerTls.Load(options);
        var limits = new ConnectionCap(total: Math.Max(256, options.UploadSlots * 8), perAddress: Math.Max(32, options.UploadSlots * 2));
        kestrel.Listen(IPEndPoint.Parse(options.Listen!), o =>
        {
            o.Protocols = HttpProtocols.Http1;
            o.Use(limits.Admit); // before the TLS handshake: a flood of half-open handshakes is capped too
            if (tls is not null)
                o.UseHttps(HttpsOptions(tls));
            o.Use(framed.Middleware); // inside TLS: a connection that opens with the framed preface, else HTTP/1.1
        });
        if (tls is null)
            log.LogWarning("--insecure: chunks served over plain HTTP on {Listen} to anyone, and the supernode spoken to without identity", options.Listen);
        else
            log.LogInformation("chunk listener {Listen}: HTTPS, peers of this cluster only; this peer is {Identity}", options.Listen, tls.Identity);
    }

    public static HttpsConnectionAdapterOptions HttpsOptions(ClusterTls tls) => new()
    {
        ServerCertificate = tls.Certificate,
        SslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
        ClientCertificateValidation = (certificate, _, _) => tls.Check(certificate, ClusterRole.Peer, expectedName: null, out _) is not null,
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        OnAuthenticate = (_, options) => tls.ApplyServerPolicy(options, ClusterRole.Peer),
    };

    /// <summary>Who asks for a chunk, for per-client upload slots: the certificate's peer name, or the remote address without TLS.</summary>
    public static string ClientOf(HttpContext context) => ClientOf(context.Connection.ClientCertificate, context.Connection.RemoteIpAddress);

    public static string ClientOf(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate, IPAddress? remote) =>
        certificate is not null && ClusterCertificates.IdentityOf(certificate) is { } identity
            ? "peer:" + identity.Name
            : "ip:" + remote;

    /// <summary>Open connections, at most <c>total</c> and <c>perAddress</c> from one remote address; past that a new one is closed at once.</summary>
    private sealed class ConnectionCap(int total, int perAddress)
    {
        private readonly Dictionary<IPAddress, int> _byAddress = [];
        private int _open;

        public ConnectionDelegate Admit(ConnectionDelegate next) => async connection =>
        {
            var address = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (!TryOpen(address))
            {
                connection.Abort(new ConnectionAbortedException("too many connections"));
                return;
            }
            try
            {
                await next(connection);
            }
            finally
            {
                Close(address);
            }
        };

        private bool TryOpen(IPAddress address)
        {
            lock (_byAddress)
            {
                int mine = _byAddress.GetValueOrDefault(address);
                if (_open >= total || mine >= perAddress)
                    return false;
                _open++;
                _byAddress[address] = mine + 1;
                return true;
            }
        }

        private void Close(IPAddress address)
        {
            lock (_byAddress)
            {
                _open--;
                if (--_byAddress[address] == 0)
                    _byAddress.Remove(address);
            }
        }
    }
}
