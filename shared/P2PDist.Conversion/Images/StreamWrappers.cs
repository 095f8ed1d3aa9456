using P2PDist.Oci;
namespace P2PDist.Conversion.Images;

/// <summary>Counts the bytes read through it (the uncompressed size of a layer).</summary>
internal sealed class CountingStream(Stream inner) : ReadOnlyStream
{
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        BytesRead += n;
        return n;
    }

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
}

/// <summary>Lets a decompressor be disposed without closing the verified stream under it, which is drained afterwards.</summary>
internal sealed class NonDisposingStream(Stream inner) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
}
