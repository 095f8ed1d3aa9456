using System.Security.Cryptography;

namespace P2PDist.Rafs;

public static class DigestBytes
{
    public const int Length = 32;
}

/// <summary>A 32-byte chunk digest (BLAKE3 or SHA-256 of the chunk's uncompressed bytes), usable as a dictionary key.</summary>
public readonly struct ChunkDigest : IEquatable<ChunkDigest>
{
    private readonly byte[] _bytes;

    public ChunkDigest(DigestAlgorithm algorithm, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != DigestBytes.Length)
            throw new ArgumentException($"a digest is {DigestBytes.Length} bytes, got {bytes.Length}", nameof(bytes));
        Algorithm = algorithm;
        _bytes = bytes.ToArray();
    }

    public DigestAlgorithm Algorithm { get; }

    public ReadOnlySpan<byte> Bytes => _bytes ?? [];

    public static ChunkDigest Compute(DigestAlgorithm algorithm, ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[DigestBytes.Length];
        switch (algorithm)
        {
            case DigestAlgorithm.Blake3:
                Blake3.Hasher.Hash(data, hash);
                break;
            case DigestAlgorithm.Sha256:
                SHA256.HashData(data, hash);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown digest algorithm");
        }
        return new ChunkDigest(algorithm, hash);
    }

    /// <summary>Constant-time comparison: the verifier must not leak how many leading bytes matched.</summary>
    public bool Matches(ReadOnlySpan<byte> other) => CryptographicOperations.FixedTimeEquals(_bytes, other);

    public bool Equals(ChunkDigest other) =>
        Algorithm == other.Algorithm && ((ReadOnlySpan<byte>)_bytes).SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => obj is ChunkDigest other && Equals(other);

    /// <summary>
    /// All 32 bytes and the algorithm through <see cref="HashCode"/>, whose seed is random per process: a
    /// hostile bootstrap chooses its digests, but cannot choose colliding hash codes and turn the pin and
    /// in-flight tables into lists (review L4). The first bytes alone were its to pick.
    /// </summary>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Algorithm);
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(ChunkDigest left, ChunkDigest right) => left.Equals(right);
    public static bool operator !=(ChunkDigest left, ChunkDigest right) => !left.Equals(right);

    public override string ToString() => $"{Algorithm.Name()}:{Convert.ToHexStringLower(_bytes)}";
}
