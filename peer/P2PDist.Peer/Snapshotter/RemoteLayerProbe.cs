using System.Collections.Concurrent;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// Decides whether a layer containerd asks for is a Rafs layer this peer can serve lazily: the labels name the
/// image, its manifest digest and the layer; the manifest (fetched by digest, so it is the one containerd
/// resolved, and checked against it) says what the layer is. A plain OCI layer is not remote: containerd then
/// downloads and unpacks it into an ordinary snapshot.
/// </summary>
/// <param name="plainHttpRegistries">Registries reached over plain HTTP though the labels do not say so (CRI's never do).</param>
public sealed class RemoteLayerProbe(Func<string, bool, CancellationToken, Task<FetchedManifest>> fetchManifest, IReadOnlyCollection<string> plainHttpRegistries)
{
    private readonly ConcurrentDictionary<string, ImageManifest> _manifests = new(StringComparer.Ordinal);

    private const int MaxCachedManifests = 256;

    /// <summary>A probe that reads manifests from the image's registry.</summary>
    public static RemoteLayerProbe ForRegistries(TimeSpan requestTimeout, IReadOnlyCollection<string> plainHttpRegistries) => new(async (reference, plainHttp, cancellationToken) =>
    {
        var image = ImageReference.Parse(reference);
        using var store = ImageStores.Open(image, new RegistryOptions { PlainHttp = plainHttp, RequestTimeout = requestTimeout });
        return await store.GetManifestAsync(image.Digest!, cancellationToken).ConfigureAwait(false);
    }, plainHttpRegistries);

    /// <summary>The remote layer, or null for a layer that is not Rafs (or labels that name no image).</summary>
    public async Task<RemoteLayer?> ProbeAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        if (!labels.TryGetValue(SnapshotLabels.ImageRef, out var imageRef) || !labels.TryGetValue(SnapshotLabels.ManifestDigest, out var manifestDigest)
            || !labels.TryGetValue(SnapshotLabels.LayerDigest, out var layerDigest))
            return null;
        OciDigest.Require(manifestDigest, $"label {SnapshotLabels.ManifestDigest}");
        OciDigest.Require(layerDigest, $"label {SnapshotLabels.LayerDigest}");
        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(imageRef);
        }
        catch (Exception e) when (e is OciException or P2PDistException or ArgumentException)
        {
            throw new P2PDistException($"label {SnapshotLabels.ImageRef} '{SnapshotLabels.Clip(imageRef)}' is not an image reference: {e.Message}");
        }
        if (reference.IsLayout || reference.Registry is null)
            throw new P2PDistException($"label {SnapshotLabels.ImageRef} '{SnapshotLabels.Clip(imageRef)}' must name a registry image, not a local layout");
        bool plainHttp = (labels.TryGetValue(SnapshotLabels.PlainHttp, out var plain) && plain == "true")
            || plainHttpRegistries.Contains(reference.Registry, StringComparer.OrdinalIgnoreCase);
        string pinned = reference.WithDigest(manifestDigest).ToString();

        if (!_manifests.TryGetValue(manifestDigest, out var manifest))
        {
            var fetched = await fetchManifest(pinned, plainHttp, cancellationToken).ConfigureAwait(false);
            if (OciDigest.Sha256(fetched.Bytes) != manifestDigest)
                throw new P2PDistException($"image {pinned}: the registry's manifest does not match digest {manifestDigest}");
            manifest = ManifestResolver.FromBytes(fetched, reference).Manifest;
            if (_manifests.Count >= MaxCachedManifests)
                _manifests.Clear();
            _manifests[manifestDigest] = manifest;
        }
        var layer = manifest.Layers.FirstOrDefault(l => l.Digest == layerDigest)
            ?? throw new P2PDistException($"image {pinned}: the manifest has no layer {layerDigest}");
        if (layer.MediaType is not MediaTypes.RafsBlob && !MediaTypes.IsRafsBootstrap(layer.MediaType))
            return null;
        return new RemoteLayer(reference.WithDigest(manifestDigest).ToString(), manifestDigest, layerDigest, plainHttp);
    }
}
