using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// The uncompressed tar stream of a layer, refused as soon as it passes its byte budget: a decompression bomb
/// is stopped after at most the budget, within seconds, instead of being inflated to the end (review M9).
/// </summary>
internal sealed class LayerByteLimitStream(Stream inner, string layerName, long limit, string reason) : ReadOnlyStream
{
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        BytesRead += n;
        if (BytesRead > limit)
            throw new P2PDistException($"{layerName}: refused, the layer expands to more than {limit:N0} uncompressed bytes, {reason}");
        return n;
    }

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
}
