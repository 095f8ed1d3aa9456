using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using P2PDist.Oci;
using P2PDist.Protos.Containerd.Content;
using P2PDist.Protos.Containerd.Images;
using P2PDist.Protos.Containerd.Leases;
using P2PDist.Protos.Containerd.Snapshots;
using P2PDist.Protos.Containerd.Types;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// `p2pdist image pull`: a Rafs image into containerd without its data. The manifest and config go into
/// containerd's content store (labelled for its garbage collector the way its own unpack labels them), each
/// layer is prepared on the snapshotter with the remote-snapshot labels (the peer answers that the layer
/// exists, so nothing is downloaded), and the image record points at the manifest. All under a lease that
/// keeps the collector away until the record holds everything.
/// </summary>
public sealed class LazyPull(ContainerdConnection containerd, string snapshotter, TextWriter output)
{
    public async Task<string> RunAsync(IImageStore registry, string reference, bool plainHttp, CancellationToken cancellationToken)
    {
        var image = await ManifestResolver.ResolveAsync(registry, "linux/amd64", cancellationToken);
        var layers = image.Manifest.Layers;
        if (layers.Count == 0 || layers.Any(l => l.MediaType is not (MediaTypes.RafsBlob or MediaTypes.RafsBootstrap)))
        {
            throw new P2PDistException($"{reference} is not a Rafs image (its layers are {string.Join(", ", layers.Select(l => l.MediaType).Distinct())}): " +
                "a plain OCI image is pulled with `ctr image pull --snapshotter " + snapshotter + "` (a full download)");
        }
        byte[] config = await ReadConfigAsync(registry, image.Manifest.Config, cancellationToken);
        var diffIds = DiffIds(config, reference);
        if (diffIds.Count != layers.Count)
            throw new P2PDistException($"{reference}: the config lists {diffIds.Count} diff ids for {layers.Count} layers; convert the image again with this version of p2pdist");
        var chain = ChainIds.Of(diffIds);

        var leases = new Leases.LeasesClient(containerd.Channel);
        string lease = $"p2pdist-pull-{Guid.NewGuid():N}";
        await Unavailable(() => leases.CreateAsync(new CreateRequest
        {
            Id = lease,
            Labels = { ["containerd.io/gc.expire"] = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) },
        }, containerd.Call()).ResponseAsync, "create a lease");
        containerd.Lease = lease;
        try
        {
            var content = new Content.ContentClient(containerd.Channel);
            await WriteContentAsync(content, config, image.Manifest.Config.Digest,
                new() { [$"containerd.io/gc.ref.snapshot.{snapshotter}"] = chain[^1] }, cancellationToken);
            await WriteContentAsync(content, image.Raw.Bytes, image.Raw.Digest,
                new() { ["containerd.io/gc.ref.content.config"] = image.Manifest.Config.Digest }, cancellationToken);

            var snapshots = new Snapshots.SnapshotsClient(containerd.Channel);
            var layerDigests = layers.Select(l => l.Digest).ToList();
            for (int i = 0; i < layers.Count; i++)
            {
                await PrepareRemoteAsync(snapshots, reference, image.Raw.Digest, layerDigests, i, chain, plainHttp);
                output.WriteLine($"layer {i + 1}/{layers.Count} {layerDigests[i][..19]} remote (snapshot {chain[i][..19]})");
            }

            await CreateImageAsync(new Images.ImagesClient(containerd.Channel), reference, image);
        }
        finally
        {
            containerd.Lease = null;
            try
            {
                await leases.DeleteAsync(new DeleteRequest { Id = lease }, containerd.Call());
            }
            catch (RpcException)
            {
                // The lease expires by itself within the hour; the image record already holds what it needs.
            }
        }
        output.WriteLine($"pulled {reference}@{image.Raw.Digest} lazily: {layers.Count} remote layers, no data downloaded");
        return image.Raw.Digest;
    }

    private async Task PrepareRemoteAsync(Snapshots.SnapshotsClient snapshots, string reference, string manifestDigest, List<string> layerDigests, int index, List<string> chain, bool plainHttp)
    {
        try
        {
            await snapshots.StatAsync(new StatSnapshotRequest { Snapshotter = snapshotter, Key = chain[index] }, containerd.Call());
            return; // pulled before
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }
        string key = $"extract-{DateTime.UtcNow.Ticks}-{chain[index]["sha256:".Length..]}";
        var request = new PrepareSnapshotRequest { Snapshotter = snapshotter, Key = key, Parent = index == 0 ? "" : chain[index - 1] };
        request.Labels.Add(LayerLabels.For(reference, manifestDigest, layerDigests, index, chain[index], plainHttp));
        try
        {
            await snapshots.PrepareAsync(request, containerd.Call());
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            return; // the snapshotter provides the layer remotely
        }
        catch (RpcException e)
        {
            throw new P2PDistException($"layer {index + 1} ({layerDigests[index]}): containerd's snapshotter '{snapshotter}' refused it: {e.Status.StatusCode}: {e.Status.Detail}");
        }
        await snapshots.RemoveAsync(new RemoveSnapshotRequest { Snapshotter = snapshotter, Key = key }, containerd.Call());
        throw new P2PDistException($"layer {index + 1} ({layerDigests[index]}): snapshotter '{snapshotter}' did not provide it remotely; " +
            "is it the p2pdist peer's snapshotter (see `p2pdist containerd config`)? The peer's log says why.");
    }

    private async Task WriteContentAsync(Content.ContentClient content, byte[] bytes, string digest, Dictionary<string, string> labels, CancellationToken cancellationToken)
    {
        try
        {
            using var write = content.Write(containerd.Call());
            string reference = $"p2pdist-{digest}";
            // One message writes and commits: a later message at offset 0 would make containerd truncate what was written.
            await write.RequestStream.WriteAsync(new WriteContentRequest
            {
                Action = WriteAction.Commit, Ref = reference, Total = bytes.Length, Expected = digest, Offset = 0, Data = ByteString.CopyFrom(bytes), Labels = { labels },
            }, cancellationToken);
            await write.RequestStream.CompleteAsync();
            while (await write.ResponseStream.MoveNext(cancellationToken))
            {
            }
            return;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            // Stored by an earlier pull: make sure it carries this pull's labels.
        }
        catch (RpcException e)
        {
            throw new P2PDistException($"containerd ({containerd.SocketPath}) did not store {digest}: {e.Status.StatusCode}: {e.Status.Detail}");
        }
        var update = new UpdateRequest { Info = new P2PDist.Protos.Containerd.Content.Info { Digest = digest, Labels = { labels } }, UpdateMask = new Google.Protobuf.WellKnownTypes.FieldMask() };
        update.UpdateMask.Paths.AddRange(labels.Keys.Select(k => "labels." + k));
        await content.UpdateAsync(update, containerd.Call());
    }

    private async Task CreateImageAsync(Images.ImagesClient images, string reference, ResolvedImage image)
    {
        var record = new Image
        {
            Name = reference,
            Target = new ContentDescriptor { MediaType = image.Raw.MediaType is { Length: > 0 } type ? type : MediaTypes.OciManifest, Digest = image.Raw.Digest, Size = image.Raw.Bytes.Length },
        };
        try
        {
            await images.CreateAsync(new CreateImageRequest { Image = record }, containerd.Call());
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            var update = new UpdateImageRequest { Image = record, UpdateMask = new Google.Protobuf.WellKnownTypes.FieldMask { Paths = { "target" } } };
            await images.UpdateAsync(update, containerd.Call());
        }
    }

    private static async Task<byte[]> ReadConfigAsync(IImageStore registry, Descriptor config, CancellationToken cancellationToken)
    {
        if (config.Size is < 0 or > 16 << 20)
            throw new P2PDistException($"{registry.Reference}: config {config.Digest} declares {config.Size} bytes (limit 16 MiB)");
        await using var stream = await registry.OpenBlobAsync(config, cancellationToken);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    public static List<string> DiffIds(byte[] config, string reference)
    {
        try
        {
            using var document = JsonDocument.Parse(config);
            var ids = document.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString() ?? "").ToList();
            foreach (string id in ids)
                OciDigest.Require(id, $"{reference}: config diff id");
            return ids;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new P2PDistException($"{reference}: the config has no valid rootfs.diff_ids ({e.Message})");
        }
    }

    private async Task Unavailable(Func<Task> call, string what)
    {
        try
        {
            await call();
        }
        catch (RpcException e)
        {
            throw new P2PDistException($"containerd at {containerd.SocketPath} could not {what}: {e.Status.StatusCode}: {e.Status.Detail}");
        }
    }
}
