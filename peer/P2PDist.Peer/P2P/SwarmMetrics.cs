using Prometheus;

namespace P2PDist.Peer.P2P;

/// <summary>
/// What the peer's part in the swarm reports: fetches from neighbours that failed (by reason), supernodes
/// reachable, connections, and uploads (bytes, chunks, refused, cut off, active). Labels are bounded: the
/// supernode label holds the configured supernode addresses (a handful), never a peer's.
/// </summary>
public sealed class SwarmMetrics
{
    private static readonly string[] FailureReasons = ["busy", "missing", "timeout", "error", "bad_length", "bad_digest"];

    public SwarmMetrics(IMetricFactory create)
    {
        PeerFailures = create.CreateCounter("p2pdist_peer_peer_fetch_failures_total", "Fetches from other peers that failed, by reason (busy, missing, timeout, error, bad_length, bad_digest)", ["reason"]);
        SupernodeUp = create.CreateGauge("p2pdist_peer_supernode_up", "1 when the supernode answered the last call, by supernode", ["supernode"]);
        ChunkConnectionsAccepted = create.CreateCounter("p2pdist_peer_chunk_connections_accepted_total",
            "Connections neighbours opened to this peer's chunk port (after TLS), by protocol: each one cost a TLS handshake", ["protocol"]);
        PeerConnectionsOpened = create.CreateCounter("p2pdist_peer_peer_connections_opened_total",
            "Framed-protocol connections this peer opened to holders (each one a TLS handshake; idle ones are reused)");
        UploadedBytes = create.CreateCounter("p2pdist_peer_uploaded_bytes_total", "Chunk bytes served to other peers");
        UploadedChunks = create.CreateCounter("p2pdist_peer_uploaded_chunks_total", "Chunks served to other peers");
        UploadsRefused = create.CreateCounter("p2pdist_peer_uploads_refused_total", "Chunk requests refused because every upload slot was busy");
        UploadsCutOff = create.CreateCounter("p2pdist_peer_uploads_cut_off_total", "Uploads stopped because the client read slower than the minimum rate (its slot given back)");
        UploadsActive = create.CreateGauge("p2pdist_peer_uploads_active", "Uploads to other peers under way");
        foreach (string reason in FailureReasons)
            PeerFailures.WithLabels(reason);
        foreach (string protocol in new[] { "framed", "http" })
            ChunkConnectionsAccepted.WithLabels(protocol);
    }

    public Counter PeerFailures { get; }
    public Gauge SupernodeUp { get; }
    public Counter ChunkConnectionsAccepted { get; }
    public Counter PeerConnectionsOpened { get; }
    public Counter UploadedBytes { get; }
    public Counter UploadedChunks { get; }
    public Counter UploadsRefused { get; }
    public Counter UploadsCutOff { get; }
    public Gauge UploadsActive { get; }
}
