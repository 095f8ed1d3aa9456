using System.Text.Json;
using System.Text.Json.Nodes;

namespace P2PDist.Oci;

/// <summary>
/// An OCI image layout directory (image-spec image-layout.md): <c>oci-layout</c>, <c>index.json</c> and
/// <c>blobs/sha256/HEX</c>. Tags are the <c>org.opencontainers.image.ref.name</c> annotation of index entries.
/// Writes go to a temporary file and are renamed into place, so a failure leaves no half-written blob.
/// </summary>
public sealed class OciLayoutStore : IImageStore
{
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    private readonly string _root;

    public OciLayoutStore(ImageReference reference)
    {
        Reference = reference;
        _root = reference.LayoutDirectory ?? throw new ArgumentException("a layout reference is needed", nameof(reference));
    }

    public ImageReference Reference { get; }

    private string BlobPath(string digest)
    {
        OciDigest.Require(digest, $"OCI layout {_root}");
        return Path.Combine(_root, "blobs", "sha256", digest["sha256:".Length..]);
    }

    public async Task<FetchedManifest> GetManifestAsync(string reference, CancellationToken cancellationToken)
    {
        string indexPath = Path.Combine(_root, "index.json");
        if (!File.Exists(indexPath))
            throw new OciException($"{Reference}: no index.json: not an OCI image layout");
        ManifestReference.Require(reference, $"{Reference}: manifest");
        if (reference.StartsWith("sha256:", StringComparison.Ordinal))
            return await ReadManifestBlobAsync(reference, cancellationToken).ConfigureAwait(false);

        var index = JsonSerializer.Deserialize<ImageIndex>(await File.ReadAllBytesAsync(indexPath, cancellationToken).ConfigureAwait(false))
            ?? throw new OciException($"{Reference}: index.json is empty");
        var matches = index.Manifests.Where(m => Reference.Tag is null
            ? true
            : m.Annotations?.GetValueOrDefault(RefNameAnnotation) == Reference.Tag).ToList();
        if (matches.Count == 0)
            throw new OciException($"{Reference}: no manifest tagged '{Reference.Tag}' in index.json");
        if (matches.Count > 1 && Reference.Tag is null)
            throw new OciException($"{Reference}: index.json lists {matches.Count} manifests; name one with oci:DIR:TAG");
        return await ReadManifestBlobAsync(matches[0].Digest, cancellationToken, matches[0].MediaType).ConfigureAwait(false);
    }

    private async Task<FetchedManifest> ReadManifestBlobAsync(string digest, CancellationToken cancellationToken, string? mediaType = null)
    {
        string path = BlobPath(digest);
        if (!File.Exists(path))
            throw new OciException($"{Reference}: manifest {digest} is missing from blobs/");
        byte[] bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        if (OciDigest.Sha256(bytes) != digest)
            throw new OciException($"{Reference}: manifest {digest} does not match its digest");
        if (mediaType is null)
        {
            using var document = JsonDocument.Parse(bytes);
            mediaType = document.RootElement.TryGetProperty("mediaType", out var m) ? m.GetString() : null;
        }
        return new FetchedManifest(bytes, mediaType ?? MediaTypes.OciManifest, digest);
    }

    public Task<Stream> OpenBlobAsync(Descriptor blob, CancellationToken cancellationToken)
    {
        string path = BlobPath(blob.Digest);
        if (!File.Exists(path))
            throw new OciException($"{Reference}: blob {blob.Digest} is missing from blobs/");
        Stream file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Task.FromResult<Stream>(new VerifyingStream(file, blob.Digest, blob.Size, $"{Reference} blob {blob.Digest}"));
    }

    public async Task<byte[]> ReadBlobRangeAsync(string digest, long offset, int length, CancellationToken cancellationToken)
    {
        using var file = File.OpenHandle(BlobPath(digest));
        var buffer = new byte[length];
        int read = await RandomAccess.ReadAsync(file, buffer, offset, cancellationToken).ConfigureAwait(false);
        if (read != length)
            throw new OciException($"{Reference}: blob {digest} ends before byte {offset + length}");
        return buffer;
    }

    public Task<bool> BlobExistsAsync(string digest, CancellationToken cancellationToken) => Task.FromResult(File.Exists(BlobPath(digest)));

    public Task<bool> TryMountBlobAsync(string digest, string fromRepository, CancellationToken cancellationToken) => Task.FromResult(false);

    public async Task PushBlobAsync(string digest, long size, Func<Stream> open, CancellationToken cancellationToken)
    {
        EnsureLayout();
        string path = BlobPath(digest);
        string temporary = path + ".partial-" + Environment.ProcessId;
        try
        {
            await using (var source = new VerifyingStream(open(), digest, size, $"blob {digest} for {Reference}"))
            await using (var target = File.Create(temporary))
                await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public async Task PushManifestAsync(string reference, byte[] manifest, string mediaType, CancellationToken cancellationToken)
    {
        string digest = OciDigest.Sha256(manifest);
        await PushBlobAsync(digest, manifest.Length, () => new MemoryStream(manifest), cancellationToken).ConfigureAwait(false);
        string indexPath = Path.Combine(_root, "index.json");
        var index = File.Exists(indexPath)
            ? JsonNode.Parse(await File.ReadAllBytesAsync(indexPath, cancellationToken).ConfigureAwait(false))!.AsObject()
            : new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = new JsonArray() };
        var manifests = index["manifests"]!.AsArray();
        bool isTag = !reference.StartsWith("sha256:", StringComparison.Ordinal);
        if (isTag)
        {
            foreach (var stale in manifests.Where(m => m?["annotations"]?[RefNameAnnotation]?.GetValue<string>() == reference).ToList())
                manifests.Remove(stale);
        }
        var entry = new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = manifest.Length };
        if (isTag)
            entry["annotations"] = new JsonObject { [RefNameAnnotation] = reference };
        manifests.Add(entry);
        string temporary = indexPath + ".partial-" + Environment.ProcessId;
        await File.WriteAllTextAsync(temporary, index.ToJsonString(), cancellationToken).ConfigureAwait(false);
        File.Move(temporary, indexPath, overwrite: true);
    }

    private void EnsureLayout()
    {
        Directory.CreateDirectory(Path.Combine(_root, "blobs", "sha256"));
        string marker = Path.Combine(_root, "oci-layout");
        if (!File.Exists(marker))
            File.WriteAllText(marker, """{"imageLayoutVersion":"1.0.0"}""");
    }

    public void Dispose() { }
}
