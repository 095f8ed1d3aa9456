using System.Text.Json;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// What a lazy pull needs from a resolved image before it touches containerd: the layer digests (blobs, then the
/// bootstrap) and the chain ids containerd will name their snapshots by. Everything here is checked up front so
/// a wrong image leaves nothing behind in containerd.
/// </summary>
public sealed record RafsPullPlan(IReadOnlyList<string> LayerDigests, IReadOnlyList<string> DiffIds, IReadOnlyList<string> ChainIds)
{
    public static RafsPullPlan From(ImageManifest manifest, byte[] config, string reference, string snapshotter)
    {
        RequireRafsLayers(manifest, reference, snapshotter);
        var diffIds = DiffIdsOf(config, reference);
        if (diffIds.Count != manifest.Layers.Count)
        {
            // The converter writes each Rafs layer's digest as its diff id; any other count means the chain ids
            // would not name the snapshots containerd looks for at `ctr run`.
            throw new P2PDistException($"{reference}: the config lists {diffIds.Count} rootfs.diff_ids for {manifest.Layers.Count} layers; "
                + "convert the image again with `p2pdist image convert`");
        }
        return new RafsPullPlan(manifest.Layers.Select(l => l.Digest).ToList(), diffIds, Containerd.ChainIds.Of(diffIds));
    }

    /// <summary>Blob layers, then exactly one bootstrap: the layout the converter pushes and the peer's snapshotter mounts.</summary>
    public static void RequireRafsLayers(ImageManifest manifest, string reference, string snapshotter)
    {
        var layers = manifest.Layers;
        if (!layers.Any(l => l.MediaType is MediaTypes.RafsBlob || MediaTypes.IsRafsBootstrap(l.MediaType)))
        {
            string types = layers.Count == 0 ? "none" : string.Join(", ", layers.Select(l => l.MediaType).Distinct());
            throw new P2PDistException($"{reference} is not a Rafs image (its layer media types: {types}): `p2pdist image pull` only pulls Rafs images, lazily; "
                + $"pull a plain OCI image with `ctr image pull --snapshotter {snapshotter} {reference}` (a full download), or convert it with `p2pdist image convert`");
        }
        for (int i = 0; i < layers.Count; i++)
        {
            bool last = i == layers.Count - 1;
            string expected = last ? MediaTypes.RafsBootstrapZstd : MediaTypes.RafsBlob;
            if (last ? !MediaTypes.IsRafsBootstrap(layers[i].MediaType) : layers[i].MediaType != MediaTypes.RafsBlob)
            {
                throw new P2PDistException($"{reference}: layer {i + 1} of {layers.Count} ({layers[i].Digest}) has media type '{layers[i].MediaType}' where a Rafs image has "
                    + $"'{expected}' (blobs first, then one bootstrap)");
            }
        }
    }

    public static List<string> DiffIdsOf(byte[] config, string reference)
    {
        List<string> ids;
        try
        {
            using var document = JsonDocument.Parse(config);
            ids = document.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString() ?? "").ToList();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new P2PDistException($"{reference}: the config has no valid rootfs.diff_ids ({e.Message})");
        }
        for (int i = 0; i < ids.Count; i++)
        {
            if (!OciDigest.IsValid(ids[i]))
                throw new P2PDistException($"{reference}: the config's rootfs.diff_ids[{i}] '{Clip(ids[i])}' is not a sha256 digest");
        }
        return ids;
    }

    // The config comes from the registry: a hostile one should not fill the terminal.
    private static string Clip(string text) => text.Length <= 80 ? text : text[..80] + "...";
}
