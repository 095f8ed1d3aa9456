namespace P2PDist.Rafs;

/// <summary>
/// The image's chunk table while it is built: one record per distinct chunk digest, so a chunk that occurs
/// in many files, layers or (with a chunk dictionary) images is stored once.
/// </summary>
public sealed class ChunkTableBuilder
{
    private readonly Dictionary<ChunkDigest, uint> _byDigest = [];

    public List<RafsChunk> Chunks { get; } = [];

    /// <summary>Blob digests (sha256:...) and sizes, in blob-index order.</summary>
    public List<RafsBlob> Blobs { get; } = [];

    public bool TryFind(ChunkDigest digest, out uint index) => _byDigest.TryGetValue(digest, out index);

    public uint Add(RafsChunk chunk)
    {
        uint index = (uint)Chunks.Count;
        Chunks.Add(chunk);
        _byDigest.Add(chunk.Digest, index);
        return index;
    }

    public int AddBlob(RafsBlob blob)
    {
        Blobs.Add(blob);
        return Blobs.Count - 1;
    }

    public void SetBlob(int index, RafsBlob blob) => Blobs[index] = blob;
}
