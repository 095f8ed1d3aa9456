using System.Buffers;
using Microsoft.AspNetCore.Http;
using P2PDist.Peer.Cache;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Serves cached chunks to other peers: <c>GET /v1/chunks/{algorithm}-{hex}</c> returns the chunk's
/// uncompressed bytes. Only the cache is served, and the cache holds verified chunks only; the receiver
/// verifies again. Busy (all upload slots taken): 503 with Retry-After, so the requester tries another holder.
/// </summary>
public sealed class ChunkServer(ChunkCache cache, UploadLimiter limiter)
{
    private const int PieceBytes = 64 << 10;

    public async Task ServeAsync(HttpContext context, string name)
    {
        var cancellationToken = context.RequestAborted;
        if (cache.PathOfName(name) is not { } path)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        string client = ChunkListenerSecurity.ClientOf(context);
        if (!limiter.TryEnter(client))
        {
            PeerMetrics.UploadsRefused.Inc();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "1";
            return;
        }
        byte[] piece = ArrayPool<byte>.Shared.Rent(PieceBytes);
        UploadDeadline? slowReader = null;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            long length = RandomAccess.GetLength(file);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = length;
            slowReader = new UploadDeadline(limiter.UploadDeadline(length), cancellationToken);
            for (long offset = 0; offset < length;)
            {
                int read = RandomAccess.Read(file, piece.AsSpan(0, (int)Math.Min(PieceBytes, length - offset)), offset);
                if (read == 0)
                    break;
                await limiter.PaceAsync(read, cancellationToken);
                using (slowReader.Running())
                    await context.Response.Body.WriteAsync(piece.AsMemory(0, read), slowReader.Token);
                offset += read;
                PeerMetrics.UploadedBytes.Inc(read);
            }
            PeerMetrics.UploadedChunks.Inc();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound; // not cached, or evicted just now
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && slowReader?.Expired == true)
        {
            // Read slower than the minimum rate: its slot goes back to the others, and the connection is dropped.
            // (Kestrel may already have aborted it on the cancelled write, so the request looks aborted as well.)
            UploadDeadline.CutOff.Inc();
            context.Abort();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && cancellationToken.IsCancellationRequested)
        {
            // The requester gave up (its own deadline) or went away.
        }
        finally
        {
            slowReader?.Dispose();
            ArrayPool<byte>.Shared.Return(piece);
            limiter.Exit(client);
        }
    }
}
