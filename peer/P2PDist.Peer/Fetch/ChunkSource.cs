using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>Where a blob's bytes can come from (the origin registry here; peers in the P2P issue).</summary>
public interface IChunkSource
{
    string Name { get; }

    /// <summary>Bytes <paramref name="offset"/>..+<paramref name="length"/> of a blob: one or more adjacent compressed chunks.</summary>
    Task<byte[]> ReadAsync(RafsBlob blob, ulong offset, int length, CancellationToken cancellationToken);
}
