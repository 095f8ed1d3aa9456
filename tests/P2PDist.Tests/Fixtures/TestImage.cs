using System.IO.Compression;
using System.Text.Json;
using P2PDist.Oci;

namespace P2PDist.Tests.Fixtures;

public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>
/// An OCI image made by a test: tar layers written with <see cref="TestTarWriter"/>, compressed as asked,
/// pushed to a real registry as an OCI manifest. Also unpacks itself with GNU tar as the reference tree.
/// </summary>
public sealed class TestImage
{
    /// <summary>A layer: its tar (null when too big to keep), the compressed blob and its diff id.</summary>
    private sealed record LayerData(byte[]? Tar, byte[] Blob, string DiffId, LayerCompression Compression);

    private readonly List<LayerData> _layers = [];

    public TestImage Layer(Action<TestTarWriter> build, LayerCompression compression = LayerCompression.Gzip)
    {
        var buffer = new MemoryStream();
        var writer = new TestTarWriter(buffer);
        build(writer);
        writer.Finish();
        return RawLayer(buffer.ToArray(), compression);
    }

    public TestImage RawLayer(byte[] tar, LayerCompression compression = LayerCompression.Gzip)
    {
        _layers.Add(new LayerData(tar, Compress(tar, compression), OciDigest.Sha256(tar), compression));
        return this;
    }

    /// <summary>A gzip layer streamed straight into its compressed form, for layers too large to hold uncompressed.</summary>
    public TestImage StreamedGzipLayer(Action<TestTarWriter> build)
    {
        var compressed = new MemoryStream();
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            var tee = new HashingWriteStream(gzip, hash);
            var writer = new TestTarWriter(tee);
            build(writer);
            writer.Finish();
        }
        _layers.Add(new LayerData(null, compressed.ToArray(), "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset()), LayerCompression.Gzip));
        return this;
    }

    private sealed class HashingWriteStream(Stream inner, System.Security.Cryptography.IncrementalHash hash) : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    public static byte[] Compress(byte[] tar, LayerCompression compression)
    {
        switch (compression)
        {
            case LayerCompression.Gzip:
                var gz = new MemoryStream();
                using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
                    z.Write(tar);
                return gz.ToArray();
            case LayerCompression.Zstd:
                using (var compressor = new ZstdSharp.Compressor(3))
                    return compressor.Wrap(tar).ToArray();
            default:
                return tar;
        }
    }

    private static string MediaType(LayerCompression compression) => compression switch
    {
        LayerCompression.Gzip => MediaTypes.OciLayerGzip,
        LayerCompression.Zstd => MediaTypes.OciLayerZstd,
        _ => MediaTypes.OciLayer,
    };

    /// <summary>Pushes the image as an OCI manifest; returns its reference. LayerDigests then holds each layer's blob digest.</summary>
    public async Task<string> PushAsync(string host, string repository, string tag, RegistryOptions? options = null)
    {
        var reference = ImageReference.Parse($"{host}/{repository}:{tag}");
        using var client = new RegistryClient(reference, options ?? new RegistryOptions { PlainHttp = true });
        var layers = new List<Descriptor>();
        var diffIds = new List<string>();
        LayerDigests.Clear();
        foreach (var layer in _layers)
        {
            string digest = OciDigest.Sha256(layer.Blob);
            await client.PushBlobAsync(digest, layer.Blob.Length, () => new MemoryStream(layer.Blob), CancellationToken.None);
            layers.Add(new Descriptor { MediaType = MediaType(layer.Compression), Digest = digest, Size = layer.Blob.Length });
            diffIds.Add(layer.DiffId);
            LayerDigests.Add(digest);
        }
        byte[] config = JsonSerializer.SerializeToUtf8Bytes(new
        {
            architecture = "amd64",
            os = "linux",
            config = new { Entrypoint = new[] { "/bin/sh" }, Env = new[] { "PATH=/usr/bin:/bin", "P2PDIST_TEST=1" } },
            rootfs = new { type = "layers", diff_ids = diffIds },
        });
        string configDigest = OciDigest.Sha256(config);
        await client.PushBlobAsync(configDigest, config.Length, () => new MemoryStream(config), CancellationToken.None);
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest, Size = config.Length },
            Layers = layers,
        };
        byte[] manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
        await client.PushManifestAsync(tag, manifestBytes, MediaTypes.OciManifest, CancellationToken.None);
        ConfigBytes = config;
        return reference.ToString();
    }

    public List<string> LayerDigests { get; } = [];

    /// <summary>Pushes the image as REPO:v1 and converts it with the real CLI to REPO:rafs; returns the Rafs reference.</summary>
    /// <param name="convertOptions">More options of `image convert` (such as --prefetch-files FILE).</param>
    public async Task<string> PushAndConvertAsync(string host, string repository, params string[] convertOptions)
    {
        string source = await PushAsync(host, repository, "v1");
        string target = $"{host}/{repository}:rafs";
        await P2PDistCli.RunOkAsync(["image", "convert", source, target, "--plain-http", .. convertOptions]);
        return target;
    }

    public byte[] ConfigBytes { get; private set; } = [];

    /// <summary>The reference unpack: GNU tar extracts each layer in order; whiteouts are applied before each layer as OCI says.</summary>
    public async Task<string> ReferenceUnpackAsync()
    {
        string root = TestPaths.NewDirectory("reference");
        File.SetUnixFileMode(root, (UnixFileMode)0x1ED);
        foreach (var layer in _layers)
        {
            byte[] tar = layer.Tar ?? throw new InvalidOperationException("a streamed layer has no tar to unpack with GNU tar");
            string tarPath = Path.Combine(TestPaths.WorkRoot, Guid.NewGuid().ToString("N") + ".tar");
            await File.WriteAllBytesAsync(tarPath, tar);
            try
            {
                var list = await ProcessRunner.RunCheckedAsync("tar", "-tf", tarPath);
                foreach (var name in list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    ApplyWhiteout(root, name.TrimEnd('/'));
                await ProcessRunner.RunCheckedAsync("tar", "-xpf", tarPath, "-C", root, "--xattrs", "--xattrs-include=*", "--numeric-owner",
                    "--same-owner", "--recursive-unlink", "--exclude=.wh.*");
            }
            finally
            {
                File.Delete(tarPath);
            }
        }
        return root;
    }

    private static void ApplyWhiteout(string root, string name)
    {
        string file = Path.GetFileName(name);
        if (!file.StartsWith(".wh.", StringComparison.Ordinal))
            return;
        string directory = Path.Combine(root, Path.GetDirectoryName(name) ?? "");
        if (file == ".wh..wh..opq")
        {
            if (Directory.Exists(directory))
            {
                foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
                    Delete(entry.FullName);
            }
            return;
        }
        Delete(Path.Combine(directory, file[".wh.".Length..]));
    }

    private static void Delete(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null && Directory.Exists(path))
            Directory.Delete(path, recursive: true);
        else if (info.Exists || info.LinkTarget is not null)
            File.Delete(path);
    }
}
