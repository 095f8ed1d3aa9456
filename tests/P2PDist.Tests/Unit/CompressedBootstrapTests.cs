using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Conversion.Images;
using P2PDist.Oci;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

/// <summary>
/// The zstd bootstrap layer in an OCI layout store: it opens to the plain bootstrap and is kept for the next
/// open; a layer without its length, one declared too large, one that decompresses past its length and one
/// whose bytes after the zstd frame were changed are refused, naming the layer, and leave no file behind.
/// </summary>
public sealed class CompressedBootstrapTests
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly string _layout = TestPaths.NewDirectory("zstd-bootstrap");
    private readonly string _work = TestPaths.NewDirectory("zstd-bootstrap-work");

    private static byte[] PlainBootstrap()
    {
        var root = TreeNode.NewDirectory();
        for (int i = 0; i < 200; i++)
            root.Children![$"file-{i:D4}"] = new TreeNode(PosixMode.Symlink | 0x1FF) { SymlinkTarget = $"/usr/lib/target-{i}" };
        return new BootstrapWriter(DigestAlgorithm.Blake3, 1 << 20).Write(root, new ChunkTableBuilder(), []);
    }

    private static byte[] Zstd(byte[] plain)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(plain).ToArray();
    }

    /// <summary>Stores <paramref name="blob"/> as is under <paramref name="digest"/> and a manifest whose one layer is it.</summary>
    private async Task<OciLayoutStore> ImageAsync(byte[] blob, string digest, string? plainLength)
    {
        var store = new OciLayoutStore(ImageReference.Parse($"oci:{_layout}:rafs"));
        await store.PushBlobAsync(OciDigest.Sha256(blob), blob.Length, () => new MemoryStream(blob), CancellationToken.None);
        if (digest != OciDigest.Sha256(blob))
            File.Move(Path.Combine(_layout, "blobs", "sha256", OciDigest.Sha256(blob)["sha256:".Length..]), Path.Combine(_layout, "blobs", "sha256", digest["sha256:".Length..]));
        var annotations = new Dictionary<string, string> { [MediaTypes.AnnotationRafsVersion] = "1" };
        if (plainLength is not null)
            annotations[MediaTypes.AnnotationRafsBootstrapLength] = plainLength;
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = OciDigest.Sha256("{}"u8), Size = 2 },
            Layers = [new Descriptor { MediaType = MediaTypes.RafsBootstrapZstd, Digest = digest, Size = blob.Length, Annotations = annotations }],
        };
        await store.PushManifestAsync("rafs", JsonSerializer.SerializeToUtf8Bytes(manifest, Json), MediaTypes.OciManifest, CancellationToken.None);
        return store;
    }

    /// <summary>The refusal (a format error, or the store's digest check); nothing is left in the work directory.</summary>
    private async Task<Exception> RefusedAsync(OciLayoutStore store)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => RafsImage.OpenAsync(store, "linux/amd64", _work, CancellationToken.None));
        Assert.True(error is P2PDistException or OciException, error.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(_work));
        return error;
    }

    [Fact]
    public async Task ACompressedBootstrap_OpensToThePlainOne_AndIsKeptForTheNextOpen()
    {
        byte[] plain = PlainBootstrap();
        byte[] compressed = Zstd(plain);
        Assert.True(compressed.Length * 3 < plain.Length, $"{compressed.Length} compressed of {plain.Length}");
        using var store = await ImageAsync(compressed, OciDigest.Sha256(compressed), plain.Length.ToString());
        string keep = Path.Combine(_work, "kept");
        using (var image = await RafsImage.OpenAsync(store, "linux/amd64", _work, null, keep, CancellationToken.None))
        {
            Assert.Equal(plain, File.ReadAllBytes(image.BootstrapPath));
            Assert.NotEqual(0u, image.Bootstrap.LookupPath("/file-0199"));
        }
        File.Delete(Path.Combine(_layout, "blobs", "sha256", OciDigest.Sha256(compressed)["sha256:".Length..]));
        using var again = await RafsImage.OpenAsync(store, "linux/amd64", _work, null, keep, CancellationToken.None); // no download
        Assert.Equal(plain, File.ReadAllBytes(again.BootstrapPath));
    }

    [Fact]
    public async Task WithoutItsLength_IsRefused()
    {
        byte[] compressed = Zstd(PlainBootstrap());
        using var store = await ImageAsync(compressed, OciDigest.Sha256(compressed), plainLength: null);
        Assert.Contains($"has no valid {MediaTypes.AnnotationRafsBootstrapLength} annotation", (await RefusedAsync(store)).Message);
    }

    [Fact]
    public async Task DeclaredOverTheLimit_IsRefusedBeforeItIsDownloaded()
    {
        byte[] compressed = Zstd(PlainBootstrap());
        using var store = await ImageAsync(compressed, OciDigest.Sha256(compressed), (3L << 30).ToString());
        Assert.Contains("decompresses to a declared 3,221,225,472 bytes, over the 2,147,483,647-byte limit; not downloaded", (await RefusedAsync(store)).Message);
    }

    [Fact]
    public async Task ABombThatDecompressesPastItsLength_IsStoppedThere()
    {
        byte[] bomb = Zstd(new byte[64 << 20]); // 64 MiB of zeros in a few KiB
        string digest = OciDigest.Sha256(bomb);
        using var store = await ImageAsync(bomb, digest, "4096");
        var error = await RefusedAsync(store);
        Assert.Contains($"bootstrap {digest} decompresses past its declared 4,096 bytes", error.Message);
    }

    [Fact]
    public async Task BytesChangedAfterTheZstdFrame_FailTheDigest()
    {
        byte[] plain = PlainBootstrap();
        byte[] frame = Zstd(plain);
        // A zstd skippable frame: a decompressor passes over it, so only the digest can tell.
        byte[] skippable = [0x50, 0x2A, 0x4D, 0x18, 22, 0, 0, 0, .. "appended by a registry"u8];
        byte[] tampered = [.. frame, .. skippable];
        using var store = await ImageAsync(tampered, OciDigest.Sha256(frame), plain.Length.ToString()); // the digest of the honest blob
        Assert.Contains("digest mismatch", (await RefusedAsync(store)).Message);
    }
}
