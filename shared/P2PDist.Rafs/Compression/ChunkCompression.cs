namespace P2PDist.Rafs;

/// <summary>Per-chunk compression, stored as one byte in each chunk record (RAFS-FORMAT.md, "Chunk table").</summary>
public enum ChunkCompression : byte
{
    None = 0,
    Zstd = 1,
    Lz4 = 2,
}

public static class ChunkCompressionNames
{
    public static string Name(this ChunkCompression compression) => compression switch
    {
        ChunkCompression.None => "none",
        ChunkCompression.Zstd => "zstd",
        ChunkCompression.Lz4 => "lz4",
        _ => $"unknown({(byte)compression})",
    };

    public static ChunkCompression Parse(string name) => name.ToLowerInvariant() switch
    {
        "none" => ChunkCompression.None,
        "zstd" => ChunkCompression.Zstd,
        "lz4" => ChunkCompression.Lz4,
        _ => throw new P2PDistException($"unknown compression '{name}' (expected zstd, lz4 or none)"),
    };
}
