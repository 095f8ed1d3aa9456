using System.Collections.Concurrent;
using P2PDist.Peer.Cache;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Gives the verified bytes of a chunk: from the cache, else fetched from a source, decompressed and checked
/// against its digest before it is cached or returned. Concurrent readers of one chunk share one fetch. A
/// mismatch is fetched once more, then fails; wrong bytes never leave this class.
/// </summary>
public sealed class ChunkProvider(ChunkCache cache, IChunkSource source, Action<string> log)
{
    private readonly ConcurrentDictionary<ChunkDigest, Lazy<Task<byte[]>>> _inFlight = new();
    private long _digestFailures;

    public long DigestFailures => Interlocked.Read(ref _digestFailures);

    /// <summary>Copies the chunk's bytes from <paramref name="offsetInChunk"/> into <paramref name="destination"/>.</summary>
    public async ValueTask CopyAsync(RafsBlob blob, RafsChunk chunk, int offsetInChunk, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (cache.TryRead(chunk.Digest, chunk.UncompressedSize, offsetInChunk, destination.Span))
            return;
        var fetch = _inFlight.GetOrAdd(chunk.Digest, _ => new Lazy<Task<byte[]>>(() => FetchAsync(blob, chunk)));
        byte[] plain;
        try
        {
            plain = await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fetch.Value.IsCompleted)
                _inFlight.TryRemove(new KeyValuePair<ChunkDigest, Lazy<Task<byte[]>>>(chunk.Digest, fetch));
        }
        plain.AsSpan(offsetInChunk, destination.Length).CopyTo(destination.Span);
    }

    /// <summary>Makes sure a chunk is in the cache (prefetch), sharing an in-flight fetch with readers.</summary>
    public async Task WarmAsync(RafsBlob blob, RafsChunk chunk, CancellationToken cancellationToken)
    {
        if (cache.Contains(chunk.Digest))
            return;
        var fetch = _inFlight.GetOrAdd(chunk.Digest, _ => new Lazy<Task<byte[]>>(() => FetchAsync(blob, chunk)));
        try
        {
            await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fetch.Value.IsCompleted)
                _inFlight.TryRemove(new KeyValuePair<ChunkDigest, Lazy<Task<byte[]>>>(chunk.Digest, fetch));
        }
    }

    private async Task<byte[]> FetchAsync(RafsBlob blob, RafsChunk chunk)
    {
        // Not cancelled by one reader's interrupt: other readers may be waiting on the same fetch.
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var codec = new ChunkCodec();
        for (int attempt = 1; ; attempt++)
        {
            byte[] compressed = await source.ReadCompressedAsync(blob, chunk, deadline.Token).ConfigureAwait(false);
            var plain = new byte[chunk.UncompressedSize];
            string where = $"chunk {chunk.Digest} (blob {blob.Digest} bytes {chunk.CompressedOffset}+{chunk.CompressedSize}) from {source.Name}";
            try
            {
                if (compressed.Length != chunk.CompressedSize)
                    throw new P2PDistException($"{where}: got {compressed.Length} bytes");
                codec.Decompress(chunk.Compression, compressed, plain, where);
                var actual = ChunkDigest.Compute(chunk.Digest.Algorithm, plain);
                if (!chunk.Digest.Matches(actual.Bytes))
                    throw new ChunkDigestMismatchException(chunk.Digest, actual, source.Name);
            }
            catch (P2PDistException e)
            {
                Interlocked.Increment(ref _digestFailures);
                log($"verification failed (attempt {attempt}): {e.Message}");
                if (attempt >= 2)
                    throw;
                continue;
            }
            cache.Store(chunk.Digest, plain, log);
            return plain;
        }
    }
}
