namespace P2PDist.Rafs;

/// <summary>Base of every error this project reports about an image; the message names what was wrong and where.</summary>
public class P2PDistException : Exception
{
    public P2PDistException(string message) : base(message) { }
    public P2PDistException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A bootstrap that breaks the Rafs v1 spec (shared/RAFS-FORMAT.md). Offset is the byte in the bootstrap.</summary>
public sealed class RafsFormatException : P2PDistException
{
    public RafsFormatException(long offset, string reason)
        : base($"malformed Rafs bootstrap at byte {offset}: {reason}") => Offset = offset;

    public long Offset { get; }
}

/// <summary>A chunk whose bytes do not hash to the digest the bootstrap pins.</summary>
public sealed class ChunkDigestMismatchException : P2PDistException
{
    public ChunkDigestMismatchException(ChunkDigest expected, ChunkDigest actual, string source)
        : base($"chunk digest mismatch from {source}: expected {expected}, got {actual}")
    {
        Expected = expected;
        Actual = actual;
        Source = source;
    }

    public ChunkDigest Expected { get; }
    public ChunkDigest Actual { get; }
    public new string Source { get; }
}
