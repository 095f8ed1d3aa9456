using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// The one check fetched bytes pass before they reach the cache or a reader, whatever their source: exact
/// length, decompression into exactly the uncompressed size (origin bytes), then the digest the bootstrap
/// pins, compared in constant time. A failure names the chunk, the source and what was wrong.
/// </summary>
internal static class ChunkVerifier
{
    /// <summary>Null when <paramref name="plain"/> is the chunk's uncompressed bytes; otherwise what is wrong with them.</summary>
    public static P2PDistException? CheckPlain(RafsChunk chunk, ReadOnlySpan<byte> plain, string source)
    {
        if (plain.Length != chunk.UncompressedSize)
            return new P2PDistException($"chunk {chunk.Digest} from {source}: got {plain.Length} bytes, expected {chunk.UncompressedSize}");
        var actual = ChunkDigest.Compute(chunk.Digest.Algorithm, plain);
        return chunk.Digest.Matches(actual.Bytes) ? null : new ChunkDigestMismatchException(chunk.Digest, actual, source);
    }

    /// <summary>The chunk's verified uncompressed bytes from its compressed form, or a <see cref="P2PDistException"/>.</summary>
    public static byte[] FromCompressed(RafsChunk chunk, RafsBlob blob, ReadOnlySpan<byte> compressed, ChunkCodec codec, string source)
    {
        // The location is spelt out only on failure: a message per good chunk is an allocation on the hot path.
        string Where() => $"chunk {chunk.Digest} (blob {blob.Digest} bytes {chunk.CompressedOffset}+{chunk.CompressedSize}) from {source}";
        if (compressed.Length != chunk.CompressedSize)
            throw new P2PDistException($"{Where()}: got {compressed.Length} bytes");
        var plain = new byte[chunk.UncompressedSize];
        if (codec.TryDecompress(chunk.Compression, compressed, plain) is { } error)
            throw new P2PDistException($"{Where()}: {error}");
        if (CheckPlain(chunk, plain, source) is { } failure)
            throw failure;
        return plain;
    }
}
