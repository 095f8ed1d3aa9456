using P2PDist.Oci;
namespace P2PDist.Conversion.Images;

/// <summary>Lets a decompressor be disposed without closing the verified stream under it, which is drained afterwards.</summary>
internal sealed class NonDisposingStream(Stream inner) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
}
