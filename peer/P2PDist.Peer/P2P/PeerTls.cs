using P2PDist.Peer.Daemon;
using P2PDist.Security;

namespace P2PDist.Peer.P2P;

/// <summary>This peer's cluster certificate, when it runs with mutual TLS; its name is then the peer's id in the swarm.</summary>
public static class PeerTls
{
    /// <summary>The loaded certificate and CA; null in --insecure mode.</summary>
    public static ClusterTls? Load(PeerOptions options) => options.TlsCertificateFile is null ? null
        : ClusterTls.Load(options.TlsCertificateFile, options.TlsKeyFile!, options.TlsCaFile!, ClusterRole.Peer);

    /// <summary>The certificate's name with mutual TLS (the supernode accepts no other), else the id kept in the data directory.</summary>
    public static string PeerId(PeerOptions options)
    {
        using var tls = Load(options);
        return tls?.Identity.Name ?? PeerIdentity.Load(options.DataDir);
    }
}
