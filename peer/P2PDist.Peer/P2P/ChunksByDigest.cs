using P2PDist.Rafs;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Chunk indices of one bootstrap by digest, for the rare reverse lookup (an evicted chunk): 12 bytes per
/// chunk, sorted by the digest's first 8 bytes, candidates confirmed against the full digest. Built on first use.
/// </summary>
internal sealed class ChunksByDigest
{
    private readonly RafsBootstrap _bootstrap;
    private readonly ulong[] _prefixes;
    private readonly uint[] _indices;

    public ChunksByDigest(RafsBootstrap bootstrap)
    {
        _bootstrap = bootstrap;
        _prefixes = new ulong[bootstrap.ChunkCount];
        _indices = new uint[bootstrap.ChunkCount];
        for (uint c = 0; c < bootstrap.ChunkCount; c++)
        {
            _prefixes[c] = Prefix(bootstrap.GetChunk(c).Digest);
            _indices[c] = c;
        }
        Array.Sort(_prefixes, _indices);
    }

    private static ulong Prefix(ChunkDigest digest) => System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest.Bytes);

    public IEnumerable<uint> Find(ChunkDigest digest)
    {
        ulong prefix = Prefix(digest);
        int at = Array.BinarySearch(_prefixes, prefix);
        if (at < 0)
            yield break;
        while (at > 0 && _prefixes[at - 1] == prefix)
            at--;
        for (; at < _prefixes.Length && _prefixes[at] == prefix; at++)
        {
            if (_bootstrap.GetChunk(_indices[at]).Digest.Equals(digest))
                yield return _indices[at];
        }
    }
}
