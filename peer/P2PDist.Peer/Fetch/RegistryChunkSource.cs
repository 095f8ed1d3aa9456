using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>The origin: a ranged GET on the blob (OCI distribution spec, "Pulling blobs"), with the client's auth and retries.</summary>
public sealed class RegistryChunkSource(IImageStore store) : IChunkSource
{
    private long _bytes;

    public string Name => $"registry {store.Reference.Registry}/{store.Reference.Repository}";

    public long BytesFetched => Interlocked.Read(ref _bytes);

    public async Task<byte[]> ReadAsync(RafsBlob blob, ulong offset, int length, CancellationToken cancellationToken)
    {
        var data = await store.ReadBlobRangeAsync(blob.Digest, (long)offset, length, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytes, data.Length);
        return data;
    }
}
