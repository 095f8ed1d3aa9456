using K4os.Compression.LZ4;
using ZstdSharp;

namespace P2PDist.Rafs;

/// <summary>
/// Compresses and decompresses single chunks. One instance per thread: the zstd contexts are reused
/// across chunks so the hot path does not allocate a context per chunk, and each is made on first use (a peer
/// only decompresses). zstd frames are decompressed by the system's libzstd where it loads, else by ZstdSharp
/// (<see cref="NativeZstdDecoder"/>); compression stays with ZstdSharp, whose frames are smaller than Debian 12's
/// libzstd 1.5.4 makes at the same level (bench/RESULTS.md).
/// </summary>
public sealed class ChunkCodec : IDisposable
{
    private readonly int _zstdLevel;
    private Compressor? _zstd;
    private NativeZstdDecoder? _native;
    private Decompressor? _unzstd;
    private bool _nativeTried;

    public ChunkCodec(int zstdLevel = 3) => _zstdLevel = zstdLevel;

    /// <param name="systemZstd">False: ZstdSharp even where libzstd loads (tests hold both decoders to the same answers).</param>
    internal ChunkCodec(int zstdLevel, bool systemZstd)
        : this(zstdLevel) => _nativeTried = !systemZstd;

    /// <summary>Which zstd decoder chunks go through in this process, for the daemon's start-up log.</summary>
    public static string ZstdDecoderName => NativeZstdDecoder.Version is { } version
        ? $"libzstd {version} (system library)"
        : $"ZstdSharp (managed; libzstd.so.1 not loaded or {NativeZstdDecoder.OverrideVariable}=managed)";

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
            ChunkCompression.Zstd => (_zstd ??= new Compressor(_zstdLevel)).Wrap(source, destination),
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
        if (TryDecompress(compression, source, destination) is { } error)
            throw new P2PDistException($"{chunkName}: {error}");
    }

    /// <summary>
    /// Decompresses into exactly <paramref name="destination"/>.Length bytes; null on success, else what was wrong
    /// (the caller names the chunk: a hot path that succeeds builds no message).
    /// </summary>
    public string? TryDecompress(ChunkCompression compression, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int produced;
        try
        {
            produced = compression switch
            {
                ChunkCompression.None => CopyStored(source, destination),
                ChunkCompression.Zstd => DecompressZstd(source, destination),
                ChunkCompression.Lz4 => LZ4Codec.Decode(source, destination),
                _ => -2,
            };
        }
        catch (Exception e) when (e is ZstdException or InvalidDataException)
        {
            return $"corrupt zstd data: {e.Message}";
        }
        return produced == -2 ? $"unknown compression {(byte)compression}"
            : produced != destination.Length ? $"decompressed to {produced} bytes, expected {destination.Length}"
            : null;
    }

    private int DecompressZstd(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!_nativeTried)
        {
            _native = NativeZstdDecoder.TryCreate();
            _nativeTried = true;
        }
        return _native is { } native ? native.Decompress(source, destination) : (_unzstd ??= new Decompressor()).Unwrap(source, destination);
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
        _zstd?.Dispose();
        _native?.Dispose();
        _unzstd?.Dispose();
    }
}
