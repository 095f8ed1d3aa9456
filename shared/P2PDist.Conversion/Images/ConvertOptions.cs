using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>Choices of a conversion, with the defaults a user gets without flags.</summary>
public sealed record ConvertOptions
{
    /// <summary>1 MiB, as Nydus: large enough for cheap metadata, small enough for lazy reads to fetch little.</summary>
    public uint ChunkSize { get; init; } = DefaultChunkSize;

    /// <summary>The chunk size of a conversion that names none (bench/RESULTS.md, "Cold start": chosen by the measurements there).</summary>
    public const uint DefaultChunkSize = 1 << 20;

    /// <summary><see cref="DefaultChunkSize"/> as the command line writes it (e.g. 256K, 1M).</summary>
    public static string DefaultChunkSizeText => DefaultChunkSize % (1 << 20) == 0 ? $"{DefaultChunkSize >> 20}M" : $"{DefaultChunkSize >> 10}K";

    public ChunkCompression Compression { get; init; } = ChunkCompression.Zstd;

    /// <summary>BLAKE3 by default: measured at about 2.5x SHA-256's speed on this machine class (bench/RESULTS.md).</summary>
    public DigestAlgorithm Digest { get; init; } = DigestAlgorithm.Blake3;

    public string Platform { get; init; } = "linux/amd64";

    /// <summary>A converted Rafs image whose chunks may be reused instead of stored again.</summary>
    public string? ChunkDictionary { get; init; }

    /// <summary>Paths (one per line) to list in the bootstrap's prefetch table.</summary>
    public IReadOnlyList<string> PrefetchPaths { get; init; } = [];

    /// <summary>Bounds on what a hostile layer can make the conversion do.</summary>
    public ConversionLimits Limits { get; init; } = new();

    public void Validate()
    {
        if (ChunkSize < 64 * 1024 || ChunkSize > 16 << 20 || (ChunkSize & (ChunkSize - 1)) != 0)
            throw new P2PDistException($"chunk size {ChunkSize} must be a power of two from 64 KiB to 16 MiB");
        Limits.Validate();
    }
}
