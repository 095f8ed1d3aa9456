using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>The swarm as the chunk provider sees it: other peers to ask first, and a place to say what we now hold.</summary>
public interface IPeerChunkSource
{
    /// <summary>How often an origin fetch renews its election lease: from the timings the supernode gave, so the lease never lapses while the fetch runs.</summary>
    TimeSpan LeaseRenewal => P2PDist.Protos.Scheduler.ProtocolTimings.Default.LeaseRenewal;

    /// <summary>The chunk's uncompressed bytes from a peer (unverified: the provider checks them), or null.</summary>
    /// <param name="background">A prefetch, not a reader: it waits longer for a peer fetching the chunk from
    /// the origin (and never takes over its election), since another origin copy costs more than its time.</param>
    Task<PeerChunk?> TryFetchAsync(uint chunkIndex, RafsChunk chunk, bool background, CancellationToken cancellationToken);

    /// <summary>
    /// What the swarm knows of many chunks at once, without electing this peer for any: per chunk its state
    /// and how many holders the supernode named (at most 8). One call per blob, for a prefetch choosing what to fetch next.
    /// </summary>
    Task<IReadOnlyList<(SwarmProbe State, int Holders)>> ProbeManyAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken);

    /// <summary>
    /// Before an origin fetch of a run of chunks: how many of them, from the first, this peer may fetch
    /// (the others are held or being fetched by other peers, and are better taken from them).
    /// </summary>
    Task<int> ClaimRunAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken);

    /// <summary>Called when a peer's bytes passed verification.</summary>
    void Accepted(uint chunkIndex);

    /// <summary>Called once a chunk is verified and cached, so it can be announced at once.</summary>
    void Stored(uint chunkIndex);

    /// <summary>Called when a peer's bytes failed verification.</summary>
    void Rejected(uint chunkIndex, string sender, string reason);
}

public enum SwarmProbe
{
    /// <summary>Some peer holds it: fetch it from peers.</summary>
    Held,
    /// <summary>Nobody holds it and this peer was elected to fetch it from the origin.</summary>
    Elected,
    /// <summary>Nobody holds it; another peer is fetching it from the origin.</summary>
    OtherFetching,
    /// <summary>Nobody holds it or fetches it (and this peer did not ask to be elected).</summary>
    Nobody,
    /// <summary>No supernode answered: fetch as if alone.</summary>
    NoScheduler,
}

/// <summary>Bytes a peer sent for a chunk, and which peer sent them (to report it if they fail verification).</summary>
public sealed record PeerChunk(byte[] Bytes, string Sender);
