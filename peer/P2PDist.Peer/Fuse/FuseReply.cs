using System.Buffers.Binary;

namespace P2PDist.Peer.Fuse;

/// <summary>
/// Builds one reply in a per-worker buffer: the out header is filled in when the reply is sent, the payload
/// is appended with the helpers below. No allocation per request.
/// </summary>
internal sealed class FuseReply
{
    private readonly byte[] _buffer = new byte[FuseProtocol.OutHeaderSize + FuseProtocol.MaxReadBytes + 4096];

    public int Length { get; private set; } = FuseProtocol.OutHeaderSize;

    public byte[] Buffer => _buffer;

    public void Reset() => Length = FuseProtocol.OutHeaderSize;

    public int Capacity => _buffer.Length - FuseProtocol.OutHeaderSize;

    /// <summary>Space for a payload of up to <paramref name="size"/> bytes; call <see cref="Advance"/> with what was used.</summary>
    public Span<byte> Reserve(int size) => _buffer.AsSpan(Length, size);

    /// <summary>The same space as <see cref="Reserve"/>, as Memory for asynchronous fills.</summary>
    public Memory<byte> ReserveMemory(int size) => _buffer.AsMemory(Length, size);

    public void Advance(int count) => Length += count;

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(Length), value);
        Length += 4;
    }

    public void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(Length), value);
        Length += 8;
    }

    public void U16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(Length), value);
        Length += 2;
    }

    public void Bytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_buffer.AsSpan(Length));
        Length += value.Length;
    }

    public void Zeros(int count)
    {
        _buffer.AsSpan(Length, count).Clear();
        Length += count;
    }

    /// <summary>Fills the out header: total length, negated errno (0 for success) and the request's unique id.</summary>
    public void Seal(int errno, ulong unique)
    {
        if (errno != 0)
            Length = FuseProtocol.OutHeaderSize;
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer, (uint)Length);
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(4), -errno);
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(8), unique);
    }
}
