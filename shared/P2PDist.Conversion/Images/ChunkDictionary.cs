using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Chunks of an existing Rafs image (<c>--chunk-dict</c>) that a conversion may point at instead of storing
/// again. A dictionary blob joins the new image's blob table only when one of its chunks is used.
/// </summary>
internal sealed class ChunkDictionary
{
    private readonly Dictionary<ChunkDigest, RafsChunk> _chunks = [];
    private readonly IReadOnlyList<RafsBlob> _blobs;
    private readonly Dictionary<uint, int> _blobIndexInImage = [];

    public ChunkDictionary(RafsBootstrap bootstrap, string repository)
    {
        Repository = repository;
        _blobs = bootstrap.Blobs();
        for (uint i = 0; i < bootstrap.ChunkCount; i++)
        {
            var chunk = bootstrap.GetChunk(i);
            _chunks.TryAdd(chunk.Digest, chunk);
        }
        Algorithm = bootstrap.DigestAlgorithm;
    }

    public string Repository { get; }
    public DigestAlgorithm Algorithm { get; }

    public bool TryReuse(ChunkDigest digest, ChunkTableBuilder table, out uint chunkIndex)
    {
        chunkIndex = 0;
        if (!_chunks.TryGetValue(digest, out var chunk))
            return false;
        if (!_blobIndexInImage.TryGetValue(chunk.BlobIndex, out int blobIndex))
        {
            var blob = _blobs[(int)chunk.BlobIndex];
            blobIndex = table.AddBlob(blob);
            _blobIndexInImage[chunk.BlobIndex] = blobIndex;
        }
        chunkIndex = table.Add(chunk with { BlobIndex = (uint)blobIndex });
        return true;
    }
}
