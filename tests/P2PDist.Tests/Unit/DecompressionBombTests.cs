using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

/// <summary>
/// Review finding "a decompression bomb chunk" (issue 10): a chunk's compressed bytes come from the origin or a
/// blob the registry serves; what they expand to is bounded by the chunk table's uncompressed size, never by
/// the data. A few kilobytes that inflate to 256 MiB are refused, naming the chunk, without allocating more
/// than the chunk's own buffer.
/// </summary>
public sealed class DecompressionBombTests
{
    private const int ChunkBytes = 1 << 20;

    public static TheoryData<ChunkCompression> Codecs => new() { ChunkCompression.Zstd, ChunkCompression.Lz4 };

    [Theory]
    [MemberData(nameof(Codecs))]
    public void DecompressionBombChunk_IsRefused_WithinTheChunksOwnBuffer(ChunkCompression compression)
    {
        byte[] zeros = new byte[256 << 20];
        byte[] bomb = compression == ChunkCompression.Zstd
            ? new ZstdSharp.Compressor(19).Wrap(zeros).ToArray()
            : Lz4Block(zeros);
        Assert.True(bomb.Length < zeros.Length / 100, $"the bomb should be small: {bomb.Length} bytes");
        using var codec = new ChunkCodec();
        byte[] destination = new byte[ChunkBytes];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var refused = Assert.ThrowsAny<P2PDistException>(() => codec.Decompress(compression, bomb, destination, "chunk blake3-bomb"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("chunk blake3-bomb", refused.Message);
        Assert.True(allocated < 4 << 20, $"refusing the bomb allocated {allocated:N0} bytes");
    }

    private static byte[] Lz4Block(byte[] source)
    {
        byte[] target = new byte[K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(source.Length)];
        int written = K4os.Compression.LZ4.LZ4Codec.Encode(source, target);
        return target[..written];
    }
}
