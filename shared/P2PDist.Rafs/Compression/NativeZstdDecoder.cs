using System.Runtime.InteropServices;

namespace P2PDist.Rafs;

/// <summary>
/// zstd decompression through the system's libzstd (Debian's libzstd1, which dpkg itself depends on, so every
/// Debian node has it). Measured against ZstdSharp on 1 MiB chunks of real files it decompresses 1.2-1.6x faster
/// (bench/RESULTS.md, "Chunk codec speed"), and every chunk a peer takes from the origin is decompressed once.
/// Where the library cannot be loaded, <see cref="ChunkCodec"/> falls back to ZstdSharp: same frames, same bytes.
/// </summary>
internal sealed partial class NativeZstdDecoder : IDisposable
{
    private const string Library = "libzstd.so.1";

    /// <summary>Set to "managed" to use ZstdSharp even where libzstd loads (a diagnosis switch and the benchmark's baseline).</summary>
    public const string OverrideVariable = "P2PDIST_ZSTD";

    private readonly DecompressionContext _context;

    private NativeZstdDecoder(DecompressionContext context) => _context = context;

    /// <summary>The library's version when it loads and is not overridden, else null (checked once per process).</summary>
    public static string? Version => LazyVersion.Value;

    private static readonly Lazy<string?> LazyVersion = new(Probe);

    private static string? Probe()
    {
        if (string.Equals(Environment.GetEnvironmentVariable(OverrideVariable), "managed", StringComparison.OrdinalIgnoreCase))
            return null;
        if (!NativeLibrary.TryLoad(Library, typeof(NativeZstdDecoder).Assembly, null, out var handle))
            return null;
        NativeLibrary.Free(handle);
        try
        {
            uint v = ZSTD_versionNumber();
            // ZSTD_decompressDCtx with an exact-size destination and its error codes are stable since 1.3.
            return v >= 10300 ? $"{v / 10000}.{v / 100 % 100}.{v % 100}" : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>A decoder with its own context (one per <see cref="ChunkCodec"/>, so per thread), or null without the library.</summary>
    public static NativeZstdDecoder? TryCreate()
    {
        if (Version is null)
            return null;
        var context = ZSTD_createDCtx();
        if (context.IsInvalid)
        {
            context.Dispose();
            return null;
        }
        return new NativeZstdDecoder(context);
    }

    /// <summary>Decompresses one frame into <paramref name="destination"/>; returns the bytes produced or throws with libzstd's reason.</summary>
    public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        nuint result = ZSTD_decompressDCtx(_context, ref MemoryMarshal.GetReference(destination), (nuint)destination.Length,
            in MemoryMarshal.GetReference(source), (nuint)source.Length);
        if (ZSTD_isError(result) != 0)
            throw new InvalidDataException(Marshal.PtrToStringUTF8(ZSTD_getErrorName(result)) ?? "unknown zstd error");
        return checked((int)result);
    }

    public void Dispose() => _context.Dispose();

    /// <summary>A ZSTD_DCtx, freed even if its codec is never disposed (codecs live per thread).</summary>
    private sealed class DecompressionContext() : SafeHandle(IntPtr.Zero, ownsHandle: true)
    {
        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle() => ZSTD_freeDCtx(handle) == 0;
    }

    [LibraryImport(Library)]
    private static partial uint ZSTD_versionNumber();

    [LibraryImport(Library)]
    private static partial DecompressionContext ZSTD_createDCtx();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeDCtx(IntPtr context);

    [LibraryImport(Library)]
    private static partial nuint ZSTD_decompressDCtx(DecompressionContext context, ref byte destination, nuint destinationCapacity, in byte source, nuint sourceSize);

    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);

    [LibraryImport(Library)]
    private static partial IntPtr ZSTD_getErrorName(nuint code);
}
