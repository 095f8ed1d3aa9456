using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using P2PDist.Protos.Containerd.Content;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// Puts small blobs (a manifest, a config) into containerd's content store, with the labels that tell its
/// garbage collector what they keep alive.
/// </summary>
public sealed class ContentUploads(ContainerdConnection containerd)
{
    private readonly Content.ContentClient content = new(containerd.Channel);

    public async Task WriteAsync(byte[] bytes, string digest, Dictionary<string, string> labels, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAndCommitAsync(bytes, digest, labels, cancellationToken);
            return;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            // Stored by an earlier pull (or ctr): it still needs this pull's labels, below.
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"store {digest} in the content store", e);
        }
        var update = new UpdateRequest { Info = new Info { Digest = digest, Labels = { labels } }, UpdateMask = new FieldMask() };
        update.UpdateMask.Paths.AddRange(labels.Keys.Select(k => "labels." + k));
        try
        {
            await content.UpdateAsync(update, containerd.Call(cancellationToken));
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"label {digest} in the content store", e);
        }
    }

    private async Task WriteAndCommitAsync(byte[] bytes, string digest, Dictionary<string, string> labels, CancellationToken cancellationToken)
    {
        using var session = content.Write(containerd.Call(cancellationToken));
        // A ref per digest: a retry after a failed pull resumes the same ingest, which containerd truncates at offset 0.
        await session.RequestStream.WriteAsync(new WriteContentRequest
        {
            Action = WriteAction.Write, Ref = $"p2pdist-{digest}", Total = bytes.Length, Expected = digest, Offset = 0, Data = ByteString.CopyFrom(bytes),
        }, cancellationToken);
        var written = await NextAsync(session, digest, cancellationToken);
        if (written.Offset != bytes.Length)
            throw new P2PDistException($"containerd at {containerd.SocketPath} took {written.Offset} of {bytes.Length} bytes of {digest}");

        // The commit carries the offset reached: at offset 0 containerd would truncate what was just written.
        await session.RequestStream.WriteAsync(new WriteContentRequest
        {
            Action = WriteAction.Commit, Total = bytes.Length, Expected = digest, Offset = bytes.Length, Labels = { labels },
        }, cancellationToken);
        var committed = await NextAsync(session, digest, cancellationToken);
        await session.RequestStream.CompleteAsync();
        if (committed.Digest != digest)
            throw new P2PDistException($"containerd at {containerd.SocketPath} committed {committed.Digest} for {digest}");
    }

    private async Task<WriteContentResponse> NextAsync(AsyncDuplexStreamingCall<WriteContentRequest, WriteContentResponse> session, string digest, CancellationToken cancellationToken)
    {
        if (!await session.ResponseStream.MoveNext(cancellationToken))
            throw new P2PDistException($"containerd at {containerd.SocketPath} ended the write of {digest} without an answer");
        return session.ResponseStream.Current;
    }
}
