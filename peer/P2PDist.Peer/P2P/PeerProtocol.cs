namespace P2PDist.Peer.P2P;

/// <summary>
/// How this peer asks its neighbours for chunks. Every chunk port answers both, so peers with different
/// settings (or versions) still exchange chunks; the setting only picks what this peer sends.
/// </summary>
public enum PeerProtocol
{
    /// <summary>The framed protocol over long-lived connections (<see cref="Wire.ChunkWire"/>): the default.</summary>
    Framed,

    /// <summary>HTTP/1.1 <c>GET /v1/chunks/{name}</c>, one pooled connection per concurrent fetch.</summary>
    Http,
}
