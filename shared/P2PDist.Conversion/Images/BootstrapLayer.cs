using System.Globalization;
using System.Security.Cryptography;
using P2PDist.Oci;
using P2PDist.Rafs;
using ZstdSharp;

namespace P2PDist.Conversion.Images;

/// <summary>
/// The bootstrap as a registry layer: pushed zstd-compressed (a third of the bytes a mount must fetch before
/// its first read), with its uncompressed length in an annotation so that a reader bounds the decompression
/// before it downloads anything. A plain (uncompressed) bootstrap layer of earlier conversions is still read.
/// On disk it is always the plain file, which the reader maps and decodes lazily, record by record.
/// </summary>
public static class BootstrapLayer
{
    /// <summary>zstd level of the bootstrap: tables of small integers and names compress well, and it is written once per conversion.</summary>
    private const int CompressionLevel = 12;

    /// <summary>The one bootstrap layer of a Rafs manifest, compressed or not; an error naming the manifest otherwise.</summary>
    public static Descriptor Find(ResolvedImage image, string reference)
    {
        var found = image.Manifest.Layers.Where(l => MediaTypes.IsRafsBootstrap(l.MediaType)).ToList();
        if (found.Count != 1)
            throw new P2PDistException($"{reference}: not a Rafs image (manifest {image.Raw.Digest} has {found.Count} layers of type {MediaTypes.RafsBootstrap}[+zstd], expected 1)");
        return found[0];
    }

    /// <summary>
    /// The bootstrap's length once decompressed, from the manifest alone, checked against <paramref name="limit"/>
    /// (review L4: nothing is downloaded for a bootstrap that would be too large).
    /// </summary>
    public static long PlainLength(Descriptor layer, long limit, string reference)
    {
        if (layer.Size < 0 || layer.Size > limit)
            throw new P2PDistException($"{reference}: bootstrap {layer.Digest} is declared as {layer.Size:N0} bytes, over the {limit:N0}-byte limit; not downloaded");
        if (layer.MediaType != MediaTypes.RafsBootstrapZstd)
            return layer.Size;
        if (layer.Annotations?.GetValueOrDefault(MediaTypes.AnnotationRafsBootstrapLength) is not { } text
            || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long length) || length <= 0)
            throw new P2PDistException($"{reference}: compressed bootstrap {layer.Digest} has no valid {MediaTypes.AnnotationRafsBootstrapLength} annotation");
        if (length > limit)
            throw new P2PDistException($"{reference}: bootstrap {layer.Digest} decompresses to a declared {length:N0} bytes, over the {limit:N0}-byte limit; not downloaded");
        return length;
    }

    /// <summary>
    /// Downloads the layer into <paramref name="path"/> as the plain bootstrap of exactly <paramref name="plainLength"/>
    /// bytes. A compressed layer is downloaded whole first and its digest checked (by the store's stream) before a
    /// byte of it is decompressed: a damaged or forged layer is named as such, and the decompressor only ever sees
    /// verified input. Files are written beside and moved into place, so a failure leaves none; the record
    /// <see cref="IsKeptAsync"/> trusts on the next open is written last.
    /// </summary>
    public static async Task DownloadAsync(IImageStore store, Descriptor layer, long plainLength, string path, CancellationToken cancellationToken)
    {
        string partial = path + ".partial", compressed = path + ".zst.partial";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            string what = $"{store.Reference}: bootstrap {layer.Digest}";
            if (layer.MediaType == MediaTypes.RafsBootstrapZstd)
            {
                await using (var fetched = await store.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false))
                await using (var target = File.Create(compressed))
                    await fetched.CopyToAsync(target, cancellationToken).ConfigureAwait(false); // the digest is checked at its end
                await using var plain = new DecompressionStream(File.OpenRead(compressed));
                await using var output = File.Create(partial);
                await CopyBoundedAsync(plain, output, hash, plainLength, what, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await using var fetched = await store.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
                await using var output = File.Create(partial);
                await CopyBoundedAsync(fetched, output, hash, plainLength, what, cancellationToken).ConfigureAwait(false);
            }
            File.Move(partial, path, overwrite: true);
            await File.WriteAllTextAsync(RecordPath(path), $"{layer.Digest} sha256:{Convert.ToHexStringLower(hash.GetHashAndReset())}\n", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(partial);
            File.Delete(compressed);
        }
    }

    /// <summary>Copies the decompressed bootstrap, refusing it once it passes its declared length or if it ends short of it.</summary>
    private static async Task CopyBoundedAsync(Stream plain, Stream target, IncrementalHash hash, long plainLength, string what, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 16];
        long written = 0;
        while (true)
        {
            int read;
            try
            {
                read = await plain.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (ZstdException e)
            {
                throw new P2PDistException($"{what}: not valid zstd ({e.Message})");
            }
            if (read == 0)
                break;
            written += read;
            if (written > plainLength)
                throw new P2PDistException($"{what} decompresses past its declared {plainLength:N0} bytes");
            hash.AppendData(buffer, 0, read);
            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }
        if (written != plainLength)
            throw new P2PDistException($"{what} is {written:N0} bytes once decompressed, not the declared {plainLength:N0}");
    }

    /// <summary>
    /// Whether a bootstrap kept from an earlier download is whole and came from this layer: the record names
    /// the layer's digest and the plain file's SHA-256, and the file is hashed again (the disk is not trusted).
    /// </summary>
    public static async Task<bool> IsKeptAsync(string path, Descriptor layer, CancellationToken cancellationToken)
    {
        string record = RecordPath(path);
        if (!File.Exists(path) || !File.Exists(record))
            return false;
        string[] fields = (await File.ReadAllTextAsync(record, cancellationToken).ConfigureAwait(false)).Trim().Split(' ');
        if (fields.Length != 2 || fields[0] != layer.Digest)
            return false;
        await using var file = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false)) == fields[1];
    }

    private static string RecordPath(string path) => path + ".source";

    /// <summary>
    /// Copies a downloaded bootstrap and its record to <paramref name="keptPath"/> (a peer keeps one per image for
    /// remounts without the registry), unless both are there already; the record goes last, so a copy cut short is
    /// never taken for whole.
    /// </summary>
    public static void Keep(string downloadedPath, string keptPath)
    {
        if (File.Exists(keptPath) && File.Exists(RecordPath(keptPath)))
            return;
        File.Copy(downloadedPath, keptPath + ".partial", overwrite: true);
        File.Move(keptPath + ".partial", keptPath, overwrite: true);
        File.Copy(RecordPath(downloadedPath), RecordPath(keptPath), overwrite: true);
    }

    /// <summary>Compresses a built bootstrap for pushing; returns the compressed file's path, digest and size.</summary>
    public static (string Path, string Digest, long Size) Compress(string plainPath)
    {
        string compressedPath = plainPath + ".zst";
        using (var input = File.OpenRead(plainPath))
        using (var output = File.Create(compressedPath))
        using (var zstd = new CompressionStream(output, CompressionLevel))
            input.CopyTo(zstd);
        using var compressed = File.OpenRead(compressedPath);
        return (compressedPath, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(compressed)), compressed.Length);
    }
}
