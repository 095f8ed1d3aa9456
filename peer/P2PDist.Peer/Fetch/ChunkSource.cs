using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>Where a chunk's compressed bytes can come from (the origin registry here; peers in the P2P issue).</summary>
public interface IChunkSource
{
    string Name { get; }

    Task<byte[]> ReadCompressedAsync(RafsBlob blob, RafsChunk chunk, CancellationToken cancellationToken);
}
