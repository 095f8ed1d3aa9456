namespace P2PDist.Rafs;

/// <summary>Chunk digest algorithm, stored as one byte in the bootstrap header (RAFS-FORMAT.md, "Header").</summary>
public enum DigestAlgorithm : byte
{
    Blake3 = 1,
    Sha256 = 2,
}

public static class DigestAlgorithmNames
{
    public static string Name(this DigestAlgorithm algorithm) => algorithm switch
    {
        DigestAlgorithm.Blake3 => "blake3",
        DigestAlgorithm.Sha256 => "sha256",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown digest algorithm"),
    };

    public static DigestAlgorithm Parse(string name) => name.ToLowerInvariant() switch
    {
        "blake3" => DigestAlgorithm.Blake3,
        "sha256" => DigestAlgorithm.Sha256,
        _ => throw new P2PDistException($"unknown digest algorithm '{name}' (expected blake3 or sha256)"),
    };
}
