using P2PDist.Peer.Fetch;
using P2PDist.Rafs;

namespace P2PDist.Peer.P2P;

/// <summary>Connects one mount's chunk provider to the swarm, translating chunk indices to (blob, ordinal).</summary>
internal sealed class MountPeerLink(RafsBootstrap bootstrap, PeerNetwork network) : IPeerChunkSource
{
    public TimeSpan LeaseRenewal => network.Timings.LeaseRenewal;

    private readonly BlobOrdinals _ordinals = new(bootstrap);
    private readonly Lazy<ChunksByDigest> _byDigest = new(() => new ChunksByDigest(bootstrap));
    private long _bytes;

    /// <summary>Verified bytes this mount got from peers.</summary>
    public long BytesFromPeers => Interlocked.Read(ref _bytes);

    private string BlobOf(RafsChunk chunk) => bootstrap.GetBlob(chunk.BlobIndex).Digest;

    public Task<PeerChunk?> TryFetchAsync(uint chunkIndex, RafsChunk chunk, bool background, CancellationToken cancellationToken) =>
        network.TryFetchAsync(BlobOf(chunk), _ordinals.Ordinal(chunkIndex), chunk.Digest, chunk.UncompressedSize, background, cancellationToken);

    public async Task<IReadOnlyList<(SwarmProbe State, int Holders)>> ProbeManyAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken)
    {
        var results = new (SwarmProbe State, int Holders)[chunkIndices.Count];
        foreach (var group in chunkIndices.Select((chunkIndex, at) => (chunkIndex, at)).GroupBy(c => bootstrap.GetChunk(c.chunkIndex).BlobIndex))
        {
            var members = group.ToList();
            var answers = await network.ProbeManyAsync(bootstrap.GetBlob(group.Key).Digest, members.Select(m => _ordinals.Ordinal(m.chunkIndex)).ToList(), cancellationToken);
            for (int i = 0; i < members.Count; i++)
                results[members[i].at] = answers[i];
        }
        return results;
    }

    public Task<int> ClaimRunAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken) =>
        network.ClaimAsync(BlobOf(bootstrap.GetChunk(chunkIndices[0])), chunkIndices.Select(_ordinals.Ordinal).ToList(), cancellationToken);

    public void Accepted(uint chunkIndex) => Interlocked.Add(ref _bytes, bootstrap.GetChunk(chunkIndex).UncompressedSize);

    public void Stored(uint chunkIndex) => network.Announce(BlobOf(bootstrap.GetChunk(chunkIndex)), _ordinals.Ordinal(chunkIndex));

    public void Rejected(uint chunkIndex, string sender, string reason) => network.RecordRejection(sender, reason);

    /// <summary>The cache evicted a chunk: if this image uses it, the swarm hears that this peer no longer holds it.</summary>
    public void Evicted(ChunkDigest digest)
    {
        foreach (uint chunkIndex in _byDigest.Value.Find(digest))
            network.Withdraw(BlobOf(bootstrap.GetChunk(chunkIndex)), _ordinals.Ordinal(chunkIndex));
    }
}
