using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Pushes a built Rafs image: blobs first (skipping those the target has, mounting chunk-dictionary blobs
/// across repositories when the registry offers it), then the bootstrap and the config (the source's, with Rafs diff ids), and the
/// manifest last, so a failure never leaves a tag pointing at an incomplete image.
/// </summary>
public sealed class ImagePublisher(IProgress<string>? progress = null)
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public async Task<string> PushAsync(BuiltImage image, IImageStore source, IImageStore target, CancellationToken cancellationToken)
    {
        var localBlobs = image.NewBlobs.ToDictionary(b => b.Digest);
        var layers = new List<Descriptor>();
        for (int i = 0; i < image.AllBlobs.Count; i++)
        {
            var blob = image.AllBlobs[i];
            layers.Add(new Descriptor
            {
                MediaType = MediaTypes.RafsBlob,
                Digest = blob.Digest,
                Size = (long)blob.Size,
                Annotations = new() { [MediaTypes.AnnotationRafsBlobIndex] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            });
            if (await target.BlobExistsAsync(blob.Digest, cancellationToken).ConfigureAwait(false))
            {
                progress?.Report($"blob {blob.Digest[..19]} already in the target");
                continue;
            }
            if (localBlobs.TryGetValue(blob.Digest, out var local))
            {
                progress?.Report($"pushing blob {blob.Digest[..19]} ({local.Size:N0} bytes)");
                await target.PushBlobAsync(blob.Digest, local.Size, () => File.OpenRead(local.Path), cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (image.DictionaryRepository is { Length: > 0 } from && await target.TryMountBlobAsync(blob.Digest, from, cancellationToken).ConfigureAwait(false))
            {
                progress?.Report($"mounted blob {blob.Digest[..19]} from {from}");
                continue;
            }
            throw new P2PDistException($"blob {blob.Digest} of the chunk dictionary is not in {target.Reference} and could not be mounted from '{image.DictionaryRepository}'; use a chunk dictionary in the same registry");
        }

        long plainLength = new FileInfo(image.BootstrapPath).Length;
        var (compressedPath, bootstrapDigest, bootstrapSize) = BootstrapLayer.Compress(image.BootstrapPath);
        progress?.Report($"bootstrap: {plainLength:N0} bytes, {bootstrapSize:N0} compressed");
        if (!await target.BlobExistsAsync(bootstrapDigest, cancellationToken).ConfigureAwait(false))
            await target.PushBlobAsync(bootstrapDigest, bootstrapSize, () => File.OpenRead(compressedPath), cancellationToken).ConfigureAwait(false);
        layers.Add(new Descriptor
        {
            MediaType = MediaTypes.RafsBootstrapZstd,
            Digest = bootstrapDigest,
            Size = bootstrapSize,
            Annotations = new()
            {
                [MediaTypes.AnnotationRafsVersion] = "1",
                [MediaTypes.AnnotationRafsBootstrapLength] = plainLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        });

        var sourceConfig = image.Source.Manifest.Config;
        byte[] configBytes = RafsConfig.WithRafsLayers(await ConfigBlob.ReadAsync(source, sourceConfig, cancellationToken).ConfigureAwait(false),
            layers.Select(l => l.Digest), $"{source.Reference}: config {sourceConfig.Digest}");
        string configDigest = OciDigest.Sha256(configBytes);
        if (!await target.BlobExistsAsync(configDigest, cancellationToken).ConfigureAwait(false))
            await target.PushBlobAsync(configDigest, configBytes.Length, () => new MemoryStream(configBytes), cancellationToken).ConfigureAwait(false);

        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor
            {
                // A Docker config is the same JSON document as an OCI one.
                MediaType = MediaTypes.OciConfig,
                Digest = configDigest,
                Size = configBytes.Length,
            },
            Layers = layers,
            Annotations = new()
            {
                [MediaTypes.AnnotationRafsVersion] = "1",
                [MediaTypes.AnnotationRafsSource] = image.Source.Raw.Digest,
            },
        };
        byte[] manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, Json);
        string tag = target.Reference.Tag ?? target.Reference.Digest ?? "latest";
        if (target.Reference.Digest is { } wanted && wanted != OciDigest.Sha256(manifestBytes))
            throw new P2PDistException($"target {target.Reference} names digest {wanted}, but the converted manifest is {OciDigest.Sha256(manifestBytes)}; give a tag instead");
        await target.PushManifestAsync(tag, manifestBytes, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
        return OciDigest.Sha256(manifestBytes);
    }
}
