using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>The origin: a ranged GET of the chunk's bytes in its blob (OCI distribution spec, "Pulling blobs").</summary>
public sealed class RegistryChunkSource(IImageStore store) : IChunkSource
{
    private long _bytes;

    public string Name => $"registry {store.Reference.Registry}/{store.Reference.Repository}";

    public long BytesFetched => Interlocked.Read(ref _bytes);

    public async Task<byte[]> ReadCompressedAsync(RafsBlob blob, RafsChunk chunk, CancellationToken cancellationToken)
    {
        var data = await store.ReadBlobRangeAsync(blob.Digest, (long)chunk.CompressedOffset, (int)chunk.CompressedSize, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytes, data.Length);
        return data;
    }
}
