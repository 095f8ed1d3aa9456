using System.Buffers;
using System.Buffers.Binary;
using MessagePack;

namespace P2PDist.Peer.P2P.Wire;

/// <summary>
/// The framed chunk protocol between peers ("p2pdist chunks/1"), spoken on the chunk port beside HTTP/1.1 and
/// inside the same mutual TLS. A connection opens with <see cref="Preface"/>; then, one at a time, the client
/// sends a request frame and the server answers with a response frame, followed by the chunk's bytes exactly
/// as cached when the status is <see cref="ChunkStatus.Ok"/>. A frame is a 4-byte big-endian length and that
/// many bytes of MessagePack: a request is <c>[1, "algorithm-hex"]</c>, a response <c>[status, length, detail]</c>.
/// Only the small headers are MessagePack; chunk bytes go as they are, so a chunk costs one header each way
/// instead of an HTTP exchange, and a connection lives across thousands of chunks.
/// </summary>
public static class ChunkWire
{
    /// <summary>Sent once by the client, first: it tells this protocol apart from an HTTP request line on the same port.</summary>
    public static ReadOnlySpan<byte> Preface => "P2PDCHK1"u8;

    /// <summary>A request names one chunk (at most 7 + 1 + 128 characters); anything longer is not a request.</summary>
    public const int MaxRequestFrame = 256;

    /// <summary>A response header is a status, a length and a short detail.</summary>
    public const int MaxResponseFrame = 1024;

    private const int RequestGet = 1;

    /// <summary>Writes a request for <paramref name="chunkName"/> (e.g. <c>blake3-…</c>); with <paramref name="preface"/> the connection's opening goes first.</summary>
    public static void WriteRequest(IBufferWriter<byte> output, string chunkName, bool preface)
    {
        if (preface)
            output.Write(Preface);
        var frame = new ArrayBufferWriter<byte>(MaxRequestFrame);
        var writer = new MessagePackWriter(frame);
        writer.WriteArrayHeader(2);
        writer.Write(RequestGet);
        writer.Write(chunkName);
        writer.Flush();
        WriteFrame(output, frame);
    }

    public static void WriteResponse(IBufferWriter<byte> output, ChunkStatus status, long length, string detail)
    {
        var frame = new ArrayBufferWriter<byte>(64);
        var writer = new MessagePackWriter(frame);
        writer.WriteArrayHeader(3);
        writer.Write((int)status);
        writer.Write(length);
        writer.Write(detail.Length <= 200 ? detail : detail[..200]);
        writer.Flush();
        WriteFrame(output, frame);
    }

    /// <summary>
    /// One request from the start of <paramref name="buffer"/>: true with the chunk name and the buffer past
    /// the frame; false when the frame is not complete yet. Throws <see cref="ChunkWireException"/> when what
    /// arrived cannot be a request (too long, not MessagePack, not a request).
    /// </summary>
    public static bool TryReadRequest(ref ReadOnlySequence<byte> buffer, out string chunkName)
    {
        chunkName = "";
        if (!TryTakeFrame(ref buffer, MaxRequestFrame, "request", out var frame))
            return false;
        try
        {
            var reader = new MessagePackReader(frame);
            int fields = reader.ReadArrayHeader();
            if (fields < 2)
                throw new ChunkWireException($"request has {fields} fields, needs 2");
            int kind = reader.ReadInt32();
            if (kind != RequestGet)
                throw new ChunkWireException($"request kind {kind} is not GET (1)");
            chunkName = reader.ReadString() ?? throw new ChunkWireException("request names no chunk");
            return true;
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException or OverflowException)
        {
            throw new ChunkWireException($"request frame is not valid MessagePack: {e.Message}");
        }
    }

    /// <summary>One response header from the start of <paramref name="buffer"/>, as <see cref="TryReadRequest"/> does for requests.</summary>
    public static bool TryReadResponse(ref ReadOnlySequence<byte> buffer, out ChunkResponse response)
    {
        response = default;
        if (!TryTakeFrame(ref buffer, MaxResponseFrame, "response", out var frame))
            return false;
        try
        {
            var reader = new MessagePackReader(frame);
            int fields = reader.ReadArrayHeader();
            if (fields < 3)
                throw new ChunkWireException($"response has {fields} fields, needs 3");
            var status = (ChunkStatus)reader.ReadInt32();
            if (!Enum.IsDefined(status))
                throw new ChunkWireException($"response status {(int)status} is unknown");
            long length = reader.ReadInt64();
            if (length < 0 || (status != ChunkStatus.Ok && length != 0))
                throw new ChunkWireException($"response length {length} is not valid for status {status}");
            string detail = reader.ReadString() ?? "";
            response = new ChunkResponse(status, length, detail);
            return true;
        }
        catch (Exception e) when (e is MessagePackSerializationException or EndOfStreamException or OverflowException)
        {
            throw new ChunkWireException($"response frame is not valid MessagePack: {e.Message}");
        }
    }

    private static void WriteFrame(IBufferWriter<byte> output, ArrayBufferWriter<byte> frame)
    {
        if (frame.WrittenCount > MaxResponseFrame)
            throw new ChunkWireException($"frame of {frame.WrittenCount} bytes is over {MaxResponseFrame}");
        BinaryPrimitives.WriteUInt32BigEndian(output.GetSpan(4), (uint)frame.WrittenCount);
        output.Advance(4);
        output.Write(frame.WrittenSpan);
    }

    private static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, int maxLength, string what, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        if (buffer.Length < 4)
            return false;
        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length == 0 || length > maxLength)
            throw new ChunkWireException($"{what} frame of {length} bytes (allowed 1 to {maxLength})");
        if (buffer.Length < 4 + length)
            return false;
        frame = buffer.Slice(4, length);
        buffer = buffer.Slice(4 + length);
        return true;
    }
}

/// <summary>What a server answers to a chunk request.</summary>
public enum ChunkStatus
{
    Ok = 0,
    /// <summary>All upload slots are taken (or this client holds its share): try another holder.</summary>
    Busy = 1,
    /// <summary>Not in the cache (never held, or evicted).</summary>
    Missing = 2,
    /// <summary>The request was malformed; the server closes the connection after this.</summary>
    BadRequest = 3,
}

public readonly record struct ChunkResponse(ChunkStatus Status, long Length, string Detail);

/// <summary>A frame that breaks the protocol; the connection cannot be trusted past it and is closed.</summary>
public sealed class ChunkWireException(string message) : Exception(message);
