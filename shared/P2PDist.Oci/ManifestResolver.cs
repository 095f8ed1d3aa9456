using System.Text.Json;

namespace P2PDist.Oci;

/// <summary>A resolved single-platform image: its manifest, the manifest's digest and the parsed form.</summary>
public sealed record ResolvedImage(ImageManifest Manifest, FetchedManifest Raw);

/// <summary>Fetches an image's manifest, following an index or manifest list to the wanted platform.</summary>
public static class ManifestResolver
{
    public static async Task<ResolvedImage> ResolveAsync(IImageStore store, string platform, CancellationToken cancellationToken)
    {
        var fetched = await store.GetManifestAsync(store.Reference.Reference, cancellationToken).ConfigureAwait(false);
        if (MediaTypes.IsIndex(fetched.MediaType) || LooksLikeIndex(fetched.Bytes))
        {
            var index = Parse<ImageIndex>(fetched, store.Reference);
            var (os, arch, variant) = SplitPlatform(platform);
            var choice = index.Manifests.FirstOrDefault(m => m.Platform is { } p && p.Os == os && p.Architecture == arch
                && (variant is null || p.Variant == variant))
                ?? throw new OciException($"{store.Reference}: the index has no manifest for {platform} (it has: "
                    + string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "unknown")) + ")");
            fetched = await store.GetManifestAsync(choice.Digest, cancellationToken).ConfigureAwait(false);
        }
        var manifest = Parse<ImageManifest>(fetched, store.Reference);
        if (manifest.SchemaVersion != 2)
            throw new OciException($"{store.Reference}: manifest schema version {manifest.SchemaVersion} is not supported (only 2)");
        OciDigest.Require(manifest.Config.Digest, $"{store.Reference}: config");
        foreach (var layer in manifest.Layers)
            OciDigest.Require(layer.Digest, $"{store.Reference}: layer");
        return new ResolvedImage(manifest, fetched);
    }

    /// <summary>A single-platform manifest already at hand (a local copy pinned by digest).</summary>
    public static ResolvedImage FromBytes(FetchedManifest fetched, ImageReference reference) =>
        new(Parse<ImageManifest>(fetched, reference), fetched);

    private static bool LooksLikeIndex(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        return document.RootElement.TryGetProperty("manifests", out _);
    }

    private static T Parse<T>(FetchedManifest fetched, ImageReference reference)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(fetched.Bytes) ?? throw new OciException($"{reference}: manifest {fetched.Digest} is empty");
        }
        catch (JsonException e)
        {
            throw new OciException($"{reference}: manifest {fetched.Digest} is not valid JSON: {e.Message}", e);
        }
    }

    private static (string Os, string Arch, string? Variant) SplitPlatform(string platform)
    {
        var parts = platform.Split('/');
        if (parts.Length is < 2 or > 3)
            throw new OciException($"platform '{platform}' is not os/arch[/variant]");
        return (parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }
}
