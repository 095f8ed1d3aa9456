using P2PDist.Rafs;

namespace P2PDist.Peer.P2P;

/// <summary>
/// How the swarm names a chunk: (blob digest, ordinal), the ordinal being the chunk's rank among its blob's
/// chunks by compressed offset. Every peer derives the same ordinals from the blob's chunk table, whatever
/// image's bootstrap it reads them from.
/// </summary>
internal sealed class BlobOrdinals
{
    private readonly uint[] _ordinalOfChunk;

    public BlobOrdinals(RafsBootstrap bootstrap)
    {
        _ordinalOfChunk = new uint[bootstrap.ChunkCount];
        var byBlob = new Dictionary<uint, List<(ulong Offset, uint Index)>>();
        for (uint c = 0; c < bootstrap.ChunkCount; c++)
        {
            var chunk = bootstrap.GetChunk(c);
            if (!byBlob.TryGetValue(chunk.BlobIndex, out var list))
                byBlob[chunk.BlobIndex] = list = [];
            list.Add((chunk.CompressedOffset, c));
        }
        foreach (var list in byBlob.Values)
        {
            list.Sort((a, b) => a.Offset.CompareTo(b.Offset));
            for (int i = 0; i < list.Count; i++)
                _ordinalOfChunk[list[i].Index] = (uint)i;
        }
    }

    public uint Ordinal(uint chunkIndex) => _ordinalOfChunk[chunkIndex];
}
