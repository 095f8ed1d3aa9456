using P2PDist.Rafs;

namespace P2PDist.Conversion.Tar;

/// <summary>A layer's tar stream is malformed. The message names the byte offset and, when known, the entry.</summary>
public sealed class TarFormatException(long offset, string reason) : P2PDistException($"bad tar data at byte {offset}: {reason}")
{
    public long Offset { get; } = offset;
}
