using K4os.Compression.LZ4;
using ZstdSharp;

namespace P2PDist.Rafs;

/// <summary>
/// Compresses and decompresses single chunks. One instance per thread: the zstd contexts are reused
/// across chunks so the hot path does not allocate a context per chunk.
/// </summary>
public sealed class ChunkCodec : IDisposable
{
    private readonly Compressor _zstd;
    private readonly Decompressor _unzstd = new();

    public ChunkCodec(int zstdLevel = 3) => _zstd = new Compressor(zstdLevel);

    public static int MaxCompressedSize(int length) =>
        Math.Max(Compressor.GetCompressBound(length), LZ4Codec.MaximumOutputSize(length));

    /// <summary>
    /// Compresses <paramref name="source"/> into <paramref name="destination"/>. Returns the compression actually used:
    /// a chunk that does not shrink is stored as-is (None) so a reader never pays to decompress it.
    /// </summary>
    public ChunkCompression Compress(ChunkCompression wanted, ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        written = wanted switch
        {
            ChunkCompression.Zstd => _zstd.Wrap(source, destination),
            ChunkCompression.Lz4 => LZ4Codec.Encode(source, destination, LZ4Level.L00_FAST),
            _ => -1,
        };
        if (written > 0 && written < source.Length)
            return wanted;
        source.CopyTo(destination);
        written = source.Length;
        return ChunkCompression.None;
    }

    /// <summary>Decompresses into exactly <paramref name="destination"/>.Length bytes, or throws naming the chunk.</summary>
    public void Decompress(ChunkCompression compression, ReadOnlySpan<byte> source, Span<byte> destination, string chunkName)
    {
        int produced;
        try
        {
            produced = compression switch
            {
                ChunkCompression.None => CopyStored(source, destination),
                ChunkCompression.Zstd => _unzstd.Unwrap(source, destination),
                ChunkCompression.Lz4 => LZ4Codec.Decode(source, destination),
                _ => throw new P2PDistException($"{chunkName}: unknown compression {(byte)compression}"),
            };
        }
        catch (ZstdException e)
        {
            throw new P2PDistException($"{chunkName}: corrupt zstd data: {e.Message}", e);
        }
        if (produced != destination.Length)
            throw new P2PDistException($"{chunkName}: decompressed to {produced} bytes, expected {destination.Length}");
    }

    private static int CopyStored(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (source.Length != destination.Length)
            return source.Length;
        source.CopyTo(destination);
        return source.Length;
    }

    public void Dispose()
    {
        _zstd.Dispose();
        _unzstd.Dispose();
    }
}
