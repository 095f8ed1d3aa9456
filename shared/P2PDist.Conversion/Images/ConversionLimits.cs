using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Bounds on what one layer may make the converter do (review M9): a layer is untrusted input, and a few MiB
/// of gzip or zstd can expand to terabytes of zeros or millions of tiny entries. Each bound is a CLI flag of
/// `image convert`; the message of a refusal names the layer, the entry when there is one, and the flag.
/// </summary>
public sealed record ConversionLimits
{
    /// <summary>Uncompressed tar bytes of one layer (--max-layer-bytes).</summary>
    public long MaxLayerBytes { get; init; } = 64L << 30;

    /// <summary>Uncompressed bytes over compressed bytes of one layer (--max-compression-ratio). Deflate cannot pass
    /// about 1032:1, so the default never trips on gzip; zstd reaches 30 000:1 on zeros, and that is what it stops.</summary>
    public double MaxCompressionRatio { get; init; } = 1100;

    /// <summary>Below this many uncompressed bytes the ratio is not enforced: a tiny layer holding one empty-ish
    /// sparse file has a huge ratio and costs nothing.</summary>
    public long RatioFloorBytes { get; init; } = 64L << 20;

    /// <summary>Tar entries of one layer (--max-layer-entries); each costs a tree node that lives until the end.</summary>
    public long MaxLayerEntries { get; init; } = 1_000_000;

    /// <summary>Bytes of one regular file (--max-file-bytes); a PAX size may claim up to 2^63.</summary>
    public long MaxFileBytes { get; init; } = 32L << 30;

    /// <summary>The most uncompressed bytes a layer of <paramref name="compressedSize"/> bytes may hold, and why.</summary>
    public (long Bytes, string Reason) LayerByteBudget(long compressedSize)
    {
        double byRatio = Math.Max(RatioFloorBytes, MaxCompressionRatio * Math.Max(compressedSize, 1));
        if (byRatio < MaxLayerBytes)
            return ((long)byRatio, $"{MaxCompressionRatio:0.##} times its {compressedSize:N0} compressed bytes (--max-compression-ratio {MaxCompressionRatio:0.##})");
        return (MaxLayerBytes, $"the {MaxLayerBytes:N0}-byte limit per layer (--max-layer-bytes)");
    }

    public void Validate()
    {
        if (MaxLayerBytes <= 0 || MaxFileBytes <= 0 || MaxLayerEntries <= 0 || RatioFloorBytes < 0)
            throw new P2PDistException("conversion limits must be positive");
        if (!(MaxCompressionRatio >= 1))
            throw new P2PDistException($"--max-compression-ratio {MaxCompressionRatio} must be at least 1");
    }
}
