using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// A converted image opened for reading: its manifest, its bootstrap (downloaded, checked against the
/// manifest's digest, mapped and validated: the root of trust) and the manifest layer of each blob.
/// </summary>
public sealed class RafsImage : IDisposable
{
    private readonly string _scratch;
    private bool _deleteScratch = true;

    private RafsImage(IImageStore store, ResolvedImage image, RafsBootstrap bootstrap, Dictionary<string, Descriptor> blobLayers, string scratch)
    {
        Store = store;
        Image = image;
        Bootstrap = bootstrap;
        BlobLayers = blobLayers;
        _scratch = scratch;
    }

    public IImageStore Store { get; }
    public ResolvedImage Image { get; }
    public RafsBootstrap Bootstrap { get; }
    public IReadOnlyDictionary<string, Descriptor> BlobLayers { get; }

    /// <summary>The verified bootstrap file on disk.</summary>
    public string BootstrapPath => Path.Combine(_scratch, "bootstrap");

    public static Task<RafsImage> OpenAsync(IImageStore store, string platform, string workDirectory, CancellationToken cancellationToken) =>
        OpenAsync(store, platform, workDirectory, pinnedDigest: null, keepDirectory: null, cancellationToken);

    /// <summary>
    /// Opens the image. With <paramref name="pinnedDigest"/>, exactly that manifest is used, whatever its tag
    /// points at now; with <paramref name="keepDirectory"/>, manifest and bootstrap are kept there and reused
    /// next time, so an image can be opened again without the registry (a peer remounting after a restart).
    /// </summary>
    public static Task<RafsImage> OpenAsync(IImageStore store, string platform, string workDirectory, string? pinnedDigest,
        string? keepDirectory, CancellationToken cancellationToken) =>
        OpenAsync(store, platform, workDirectory, pinnedDigest, keepDirectory, BootstrapMemory.MaxLength, cancellationToken);

    /// <summary>As above; a bootstrap the manifest declares larger than <paramref name="maxBootstrapBytes"/> is refused before it is downloaded.</summary>
    public static async Task<RafsImage> OpenAsync(IImageStore store, string platform, string workDirectory, string? pinnedDigest,
        string? keepDirectory, long maxBootstrapBytes, CancellationToken cancellationToken)
    {
        var image = await ResolveAsync(store, platform, pinnedDigest, keepDirectory, cancellationToken).ConfigureAwait(false);
        var bootstrapLayer = BootstrapLayer.Find(image, store.Reference.ToString());
        // Before anything is fetched (review L4): the download itself is then bounded, as VerifyingStream stops at the declared size.
        long plainLength = BootstrapLayer.PlainLength(bootstrapLayer, Math.Min(maxBootstrapBytes, BootstrapMemory.MaxLength), store.Reference.ToString());
        var scratch = keepDirectory is null
            ? ScratchDirectory.Create(workDirectory, "p2pdist-image-").FullName
            : Directory.CreateDirectory(keepDirectory).FullName;
        try
        {
            string path = Path.Combine(scratch, "bootstrap");
            if (!await BootstrapLayer.IsKeptAsync(path, bootstrapLayer, cancellationToken).ConfigureAwait(false))
                await BootstrapLayer.DownloadAsync(store, bootstrapLayer, plainLength, path, cancellationToken).ConfigureAwait(false);
            if (keepDirectory is not null)
                await File.WriteAllBytesAsync(Path.Combine(scratch, "manifest.json"), image.Raw.Bytes, cancellationToken).ConfigureAwait(false);
            var bootstrap = RafsBootstrap.Open(path);
            try
            {
                bootstrap.Validate();
                var layers = image.Manifest.Layers.Where(l => l.MediaType == MediaTypes.RafsBlob).GroupBy(l => l.Digest).ToDictionary(g => g.Key, g => g.First());
                foreach (var blob in bootstrap.Blobs())
                {
                    if (!layers.TryGetValue(blob.Digest, out var layer))
                        throw new P2PDistException($"{store.Reference}: the bootstrap names blob {blob.Digest}, which the manifest does not list");
                    if ((ulong)layer.Size != blob.Size)
                        throw new P2PDistException($"{store.Reference}: blob {blob.Digest} is {layer.Size} bytes in the manifest, {blob.Size} in the bootstrap");
                }
                return new RafsImage(store, image, bootstrap, layers, scratch) { _deleteScratch = keepDirectory is null };
            }
            catch
            {
                bootstrap.Dispose();
                throw;
            }
        }
        catch
        {
            if (keepDirectory is null)
                Directory.Delete(scratch, recursive: true);
            throw;
        }
    }

    private static async Task<ResolvedImage> ResolveAsync(IImageStore store, string platform, string? pinnedDigest, string? keepDirectory, CancellationToken cancellationToken)
    {
        if (pinnedDigest is null)
            return await ManifestResolver.ResolveAsync(store, platform, cancellationToken).ConfigureAwait(false);
        string local = keepDirectory is null ? "" : Path.Combine(keepDirectory, "manifest.json");
        if (File.Exists(local))
        {
            byte[] bytes = await File.ReadAllBytesAsync(local, cancellationToken).ConfigureAwait(false);
            if (OciDigest.Sha256(bytes) == pinnedDigest)
                return ManifestResolver.FromBytes(new FetchedManifest(bytes, MediaTypes.OciManifest, pinnedDigest), store.Reference);
        }
        var fetched = await store.GetManifestAsync(pinnedDigest, cancellationToken).ConfigureAwait(false);
        return ManifestResolver.FromBytes(fetched, store.Reference);
    }

    /// <summary>Downloads a blob whole into the scratch folder, checking its digest; returns its path.</summary>
    public async Task<string> DownloadBlobAsync(RafsBlob blob, CancellationToken cancellationToken)
    {
        string path = Path.Combine(_scratch, blob.Digest["sha256:".Length..]);
        if (File.Exists(path))
            return path;
        string partial = path + ".partial";
        await using (var source = await Store.OpenBlobAsync(BlobLayers[blob.Digest], cancellationToken).ConfigureAwait(false))
        await using (var target = File.Create(partial))
            await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
        File.Move(partial, path);
        return path;
    }

    /// <summary>Downloads a blob without giving up on a digest mismatch, so `check` can say which chunks are bad.</summary>
    public async Task<(string Path, string? Problem)> DownloadBlobForCheckAsync(RafsBlob blob, CancellationToken cancellationToken)
    {
        string path = Path.Combine(_scratch, blob.Digest["sha256:".Length..] + ".check");
        string? problem = null;
        await using (var target = File.Create(path))
        {
            try
            {
                await using var source = await Store.OpenBlobAsync(BlobLayers[blob.Digest], cancellationToken).ConfigureAwait(false);
                await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            }
            catch (OciException e)
            {
                problem = e.Message;
            }
        }
        return (path, problem);
    }

    public void Dispose()
    {
        Bootstrap.Dispose();
        if (!_deleteScratch)
            return;
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (IOException)
        {
            // Scratch space in the temp folder; a leftover is harmless.
        }
    }
}
