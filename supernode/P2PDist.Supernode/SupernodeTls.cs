using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using P2PDist.Security;

namespace P2PDist.Supernode;

/// <summary>The gRPC listener's TLS: this supernode's certificate, and a client certificate required from every caller, valid only as a peer of this cluster.</summary>
internal static class SupernodeTls
{
    public static HttpsConnectionAdapterOptions HttpsOptions(ClusterTls tls) => new()
    {
        ServerCertificate = tls.Certificate,
        SslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
        // Only the cluster CA is trusted (custom root trust, no system roots) and only peer certificates are let in.
        ClientCertificateValidation = (certificate, _, _) => tls.Check(certificate, ClusterRole.Peer, expectedName: null, out _) is not null,
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        OnAuthenticate = (_, options) => tls.ApplyServerPolicy(options, ClusterRole.Peer),
    };
}
