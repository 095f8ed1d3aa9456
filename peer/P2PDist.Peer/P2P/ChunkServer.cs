using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using P2PDist.Peer.Cache;
using P2PDist.Peer.P2P.Wire;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Serves cached chunks to other peers, over either protocol of the chunk port: HTTP/1.1
/// (<c>GET /v1/chunks/{algorithm}-{hex}</c>) and the framed protocol of <see cref="ChunkWire"/>. Only the cache
/// is served, and the cache holds verified chunks only; the receiver verifies again. A chunk is sent as it is
/// stored, read from the file straight into the connection's buffers. Busy (all upload slots taken, or this
/// client holds its share): refused at once, so the requester tries another holder.
/// </summary>
public sealed class ChunkServer(ChunkCache cache, UploadLimiter limiter, SwarmMetrics metrics)
{
    private const int PieceBytes = 64 << 10;

    /// <summary>Where uploads are counted (the framed listener counts its connections here too).</summary>
    public SwarmMetrics Metrics => metrics;

    /// <summary>How an upload is framed by the protocol carrying it: the answer before the bytes, and how to drop the connection.</summary>
    public interface IReply
    {
        /// <summary>Called once, before any chunk byte: Ok with the chunk's length, or Busy/Missing with 0.</summary>
        ValueTask BeginAsync(ChunkStatus status, long length);

        PipeWriter Body { get; }

        /// <summary>The client read too slowly: its connection is closed (what it got so far is useless to it).</summary>
        void Abort();
    }

    public Task ServeAsync(HttpContext context, string name) =>
        UploadAsync(name, ChunkListenerSecurity.ClientOf(context), new HttpReply(context), context.RequestAborted);

    /// <summary>Sends chunk <paramref name="name"/> to <paramref name="client"/> (a peer name or an address, for per-client slots).</summary>
    public async Task UploadAsync(string name, string client, IReply reply, CancellationToken aborted)
    {
        if (cache.PathOfName(name) is not { } path)
        {
            await reply.BeginAsync(ChunkStatus.Missing, 0);
            return;
        }
        if (!limiter.TryEnter(client))
        {
            metrics.UploadsRefused.Inc();
            await reply.BeginAsync(ChunkStatus.Busy, 0);
            return;
        }
        UploadDeadline? slowReader = null;
        try
        {
            if (OpenOrNull(path) is not { } file)
            {
                await reply.BeginAsync(ChunkStatus.Missing, 0); // evicted just now
                return;
            }
            using (file)
            {
                long length = RandomAccess.GetLength(file);
                await reply.BeginAsync(ChunkStatus.Ok, length);
                slowReader = new UploadDeadline(limiter.UploadDeadline(length), aborted);
                var body = reply.Body;
                for (long offset = 0; offset < length;)
                {
                    var piece = body.GetMemory((int)Math.Min(PieceBytes, length - offset));
                    int want = (int)Math.Min(Math.Min(PieceBytes, piece.Length), length - offset);
                    int read = RandomAccess.Read(file, piece.Span[..want], offset);
                    if (read == 0)
                        throw new IOException($"cached chunk {name} ended at {offset} of {length} bytes");
                    body.Advance(read);
                    await limiter.PaceAsync(read, aborted);
                    using (slowReader.Running())
                        await body.FlushAsync(slowReader.Token);
                    offset += read;
                    metrics.UploadedBytes.Inc(read);
                }
            }
            metrics.UploadedChunks.Inc();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && slowReader?.Expired == true)
        {
            // Read slower than the minimum rate: its slot goes back to the others, and the connection is dropped.
            // (Kestrel may already have aborted it on the cancelled write, so the request looks aborted as well.)
            metrics.UploadsCutOff.Inc();
            reply.Abort();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            // The requester gave up (its own deadline) or went away.
        }
        finally
        {
            slowReader?.Dispose();
            limiter.Exit(client);
        }
    }

    /// <summary>The cached chunk's file, or null when it was evicted between the lookup and the open.</summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle? OpenOrNull(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private sealed class HttpReply(HttpContext context) : IReply
    {
        public PipeWriter Body => context.Response.BodyWriter;

        public ValueTask BeginAsync(ChunkStatus status, long length)
        {
            switch (status)
            {
                case ChunkStatus.Ok:
                    context.Response.ContentType = "application/octet-stream";
                    context.Response.ContentLength = length;
                    break;
                case ChunkStatus.Busy:
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    context.Response.Headers.RetryAfter = "1";
                    break;
                default:
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    break;
            }
            return ValueTask.CompletedTask;
        }

        public void Abort() => context.Abort();
    }
}
