using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;

namespace P2PDist.Peer.P2P.Wire;

/// <summary>
/// One client connection of <see cref="ChunkWire"/> to one holder: TCP from this peer's own address, mutual
/// TLS when the cluster has certificates, the preface, then one chunk at a time. A connection whose exchange
/// did not end cleanly (a stall, a bad frame, a short body) is never used again: what is left on it is unknown.
/// </summary>
internal sealed class FramedConnection : IDisposable
{
    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly ArrayBufferWriter<byte> _request = new(ChunkWire.MaxRequestFrame + 16);
    private bool _prefaceSent;

    private FramedConnection(Stream stream)
    {
        _stream = stream;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 << 10, minimumReadSize: 16 << 10, leaveOpen: true));
    }

    /// <summary>Whether the last exchange ended cleanly, so the connection may carry another.</summary>
    public bool Reusable { get; private set; } = true;

    /// <summary>Whether any byte of the current exchange's answer arrived: a reused connection that fails before one was probably closed by the server while idle.</summary>
    public bool Answering { get; private set; }

    public static async Task<FramedConnection> OpenAsync(IPAddress source, IPEndPoint holder, SslClientAuthenticationOptions? tls, CancellationToken cancellationToken)
    {
        Stream stream = await P2PDist.Oci.SourceBoundConnect.ConnectAsync(source, holder, cancellationToken).ConfigureAwait(false);
        try
        {
            if (tls is not null)
            {
                var secure = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = secure;
                await secure.AuthenticateAsClientAsync(tls, cancellationToken).ConfigureAwait(false);
            }
            return new FramedConnection(stream);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task SendRequestAsync(string chunkName, CancellationToken cancellationToken)
    {
        Reusable = false; // until the whole answer is read
        Answering = false;
        _request.ResetWrittenCount();
        ChunkWire.WriteRequest(_request, chunkName, preface: !_prefaceSent);
        _prefaceSent = true;
        await _stream.WriteAsync(_request.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The response header. Throws <see cref="ChunkWireException"/> for a bad frame, <see cref="HolderSpeaksHttpException"/> for an HTTP answer.</summary>
    public async Task<ChunkResponse> ReadResponseAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
                Answering = true;
            if (StartsWithHttp(buffer))
                throw new HolderSpeaksHttpException();
            if (ChunkWire.TryReadResponse(ref buffer, out var response))
            {
                _input.AdvanceTo(buffer.Start);
                Reusable = response.Status is ChunkStatus.Busy or ChunkStatus.Missing || (response.Status == ChunkStatus.Ok && response.Length == 0);
                return response;
            }
            if (result.IsCompleted)
                throw new IOException(buffer.IsEmpty ? "holder closed the connection" : $"holder closed the connection inside a response header ({buffer.Length} bytes of it)");
            _input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Reads the chunk's bytes into <paramref name="destination"/> (its whole length). <paramref name="progress"/>
    /// is called after every piece, so the caller's stall clock restarts while bytes keep coming.
    /// </summary>
    public async Task ReadBodyAsync(Memory<byte> destination, Action progress, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < destination.Length)
        {
            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            int take = (int)Math.Min(buffer.Length, destination.Length - filled);
            buffer.Slice(0, take).CopyTo(destination.Span[filled..]);
            _input.AdvanceTo(buffer.GetPosition(take));
            filled += take;
            progress();
            if (filled < destination.Length && result.IsCompleted)
                throw new IOException($"holder closed the connection after {filled} of {destination.Length} bytes");
        }
        Reusable = true;
    }

    private static bool StartsWithHttp(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 5)
            return false;
        Span<byte> start = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(start);
        return start.SequenceEqual("HTTP/"u8);
    }

    public void Dispose()
    {
        _input.Complete();
        _stream.Dispose();
    }
}

/// <summary>The holder answered the preface with an HTTP response: it is a peer that speaks only HTTP/1.1 for chunks.</summary>
internal sealed class HolderSpeaksHttpException() : Exception("holder answered the framed chunk protocol with HTTP");
