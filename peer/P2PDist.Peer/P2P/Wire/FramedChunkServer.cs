using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using P2PDist.Peer.Cache;

namespace P2PDist.Peer.P2P.Wire;

/// <summary>
/// The server half of <see cref="ChunkWire"/>: a Kestrel connection middleware on the chunk port, after the
/// connection cap and the TLS handshake. A connection that opens with the preface is served here, request by
/// request, for as long as it lives; any other connection (an HTTP/1.1 client) passes to HTTP untouched. The same
/// <see cref="ChunkServer"/> answers both, so slots, pacing and the slow-reader deadline are one set of rules.
/// </summary>
public sealed class FramedChunkServer(ChunkServer chunks, TimeProvider? time = null)
{
    /// <summary>A connection with no request for this long is closed (clients drop theirs sooner, so they never send into a closing one).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The opening bytes must arrive within this, as HTTP's request headers must (Kestrel's RequestHeadersTimeout).</summary>
    public static readonly TimeSpan PrefaceTimeout = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        bool framed;
        using (var deadline = new CancellationTokenSource(PrefaceTimeout, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, connection.ConnectionClosed))
        {
            try
            {
                framed = await StartsWithPrefaceAsync(connection.Transport.Input, linked.Token);
            }
            catch (OperationCanceledException)
            {
                connection.Abort(new ConnectionAbortedException("nothing sent within the preface deadline"));
                return;
            }
        }
        chunks.Metrics.ChunkConnectionsAccepted.WithLabels(framed ? "framed" : "http").Inc();
        if (framed)
            await ServeAsync(connection);
        else
            await next(connection);
    };

    /// <summary>True (preface consumed) for this protocol; false (nothing consumed) for anything else, decided at the first byte that differs.</summary>
    private static async Task<bool> StartsWithPrefaceAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var preface = ChunkWire.Preface.ToArray();
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            int seen = (int)Math.Min(buffer.Length, preface.Length);
            var start = new byte[seen];
            buffer.Slice(0, seen).CopyTo(start);
            if (!start.AsSpan().SequenceEqual(preface.AsSpan(0, seen)) || (result.IsCompleted && seen < preface.Length))
            {
                input.AdvanceTo(buffer.Start); // all of it is still there for HTTP
                return false;
            }
            if (seen == preface.Length)
            {
                input.AdvanceTo(buffer.GetPosition(preface.Length));
                return true;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task ServeAsync(ConnectionContext connection)
    {
        string client = ClientOf(connection);
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var reply = new FramedReply(output, connection);
        while (!connection.ConnectionClosed.IsCancellationRequested)
        {
            string name;
            try
            {
                if (await NextRequestAsync(input, connection) is not { } requested)
                    return; // closed by the client, or idle too long
                name = requested;
            }
            catch (ChunkWireException e)
            {
                ChunkWire.WriteResponse(output, ChunkStatus.BadRequest, 0, e.Message);
                await output.FlushAsync(connection.ConnectionClosed);
                return;
            }
            if (!ChunkNames.IsValid(name))
            {
                ChunkWire.WriteResponse(output, ChunkStatus.BadRequest, 0, "chunk name must be blake3-<64 hex> or sha256-<64 hex>, lower case");
                await output.FlushAsync(connection.ConnectionClosed);
                return;
            }
            await chunks.UploadAsync(name, client, reply, connection.ConnectionClosed);
            if (reply.Aborted)
                return;
            await output.FlushAsync(connection.ConnectionClosed); // a zero-length chunk has nothing flushed yet
        }
    }

    /// <summary>
    /// The next request's chunk name, or null when the client closed the connection, sent nothing for
    /// <see cref="IdleTimeout"/>, or the server is stopping (Kestrel asks connections to close; an upload under
    /// way finishes first, an idle connection goes at once, so a stopping peer does not wait on its neighbours).
    /// </summary>
    private async Task<string?> NextRequestAsync(PipeReader input, ConnectionContext connection)
    {
        using var idle = new CancellationTokenSource(IdleTimeout, _time);
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(idle.Token, connection.ConnectionClosed, closeRequested);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(linked.Token);
                var buffer = result.Buffer;
                if (ChunkWire.TryReadRequest(ref buffer, out string name))
                {
                    input.AdvanceTo(buffer.Start);
                    return name;
                }
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                        throw new ChunkWireException($"connection closed inside a request ({buffer.Length} bytes of it)");
                    return null;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Who asks, for per-client upload slots: the certificate's peer name, or the remote address without TLS (as for HTTP).</summary>
    private static string ClientOf(ConnectionContext connection) =>
        ChunkListenerSecurity.ClientOf(connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate, (connection.RemoteEndPoint as IPEndPoint)?.Address);

    private sealed class FramedReply(PipeWriter output, ConnectionContext connection) : ChunkServer.IReply
    {
        public bool Aborted { get; private set; }

        public PipeWriter Body => output;

        public async ValueTask BeginAsync(ChunkStatus status, long length)
        {
            ChunkWire.WriteResponse(output, status, length, status switch
            {
                ChunkStatus.Busy => "all upload slots busy",
                ChunkStatus.Missing => "chunk not in the cache",
                _ => "",
            });
            if (status != ChunkStatus.Ok)
                await output.FlushAsync(connection.ConnectionClosed);
        }

        public void Abort()
        {
            Aborted = true;
            connection.Abort(new ConnectionAbortedException("client read the chunk too slowly"));
        }
    }
}
