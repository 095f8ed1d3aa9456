using System.Text.Json;
using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>The registry client against a real registry: uploads, ranges, mounts, retries, TLS and manifest kinds.</summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryClientTests(RegistryFixture registry)
{
    private static readonly CancellationToken None = CancellationToken.None;

    private RegistryClient Client(string repository, RegistryOptions? options = null, string? host = null) =>
        new(ImageReference.Parse($"{host ?? registry.Host}/{repository}:x"), options ?? new RegistryOptions { PlainHttp = true });

    [Fact]
    public async Task ChunkedUpload_OfALargeBlob_IsStoredIntact()
    {
        byte[] blob = SampleImages.Bytes(5 << 20, 99);
        string digest = OciDigest.Sha256(blob);
        using var client = Client("chunked", new RegistryOptions { PlainHttp = true, ChunkedUploadThreshold = 1 << 20, UploadChunkSize = 700_000 });
        await client.PushBlobAsync(digest, blob.Length, () => new MemoryStream(blob), None);
        await using var stream = await client.OpenBlobAsync(new Descriptor { Digest = digest, Size = blob.Length }, None);
        var back = new MemoryStream();
        await stream.CopyToAsync(back);
        Assert.Equal(blob, back.ToArray());
        Assert.Equal(blob.AsSpan(4_000_000, 1000).ToArray(), await client.ReadBlobRangeAsync(digest, 4_000_000, 1000, None));
    }

    [Fact]
    public async Task CrossRepositoryMount_MakesTheBlobAvailableWithoutUpload()
    {
        byte[] blob = SampleImages.Bytes(100_000, 98);
        string digest = OciDigest.Sha256(blob);
        using var from = Client("mount-from");
        using var to = Client("mount-to");
        await from.PushBlobAsync(digest, blob.Length, () => new MemoryStream(blob), None);
        Assert.False(await to.BlobExistsAsync(digest, None));
        Assert.True(await to.TryMountBlobAsync(digest, "mount-from", None));
        Assert.True(await to.BlobExistsAsync(digest, None));
        Assert.False(await to.TryMountBlobAsync(OciDigest.Sha256([1, 2, 3]), "mount-from", None));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TransientFailures_AreRetriedWithBackoff(bool dropConnection)
    {
        string source = await SampleImages.Rich().PushAsync(registry.Host, $"flaky-{(dropConnection ? "drop" : "503")}", "v1");
        // Fail the first three blob GETs: each is retried, and the conversion succeeds.
        using var proxy = new FlakyProxy(registry.Host, failures: 3, dropConnection, r => r.HttpMethod == "GET" && r.RawUrl!.Contains("/blobs/"));
        var result = await P2PDistCli.RunAsync("image", "convert", source.Replace(registry.Host, proxy.Host), $"{proxy.Host}/flaky-{(dropConnection ? "drop" : "503")}:rafs", "--plain-http", "--timeout", "5");
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(3, proxy.FailuresInjected);
    }

    [Fact]
    public async Task PersistentFailures_GiveUpWithTheUrlAndStatus()
    {
        string source = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(registry.Host, "always-503", "v1");
        using var proxy = new FlakyProxy(registry.Host, failures: 1000, dropConnection: false, r => r.RawUrl!.Contains("/blobs/"));
        var result = await P2PDistCli.RunAsync("image", "convert", source.Replace(registry.Host, proxy.Host), $"{proxy.Host}/always-503:rafs", "--plain-http", "--timeout", "5");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("503", result.Stderr);
        Assert.False(registry.Server.HasTag("always-503", "rafs"));
    }

    [Fact]
    public async Task Reconverting_PushesNoBlobTwice()
    {
        string source = await SampleImages.Rich().PushAsync(registry.Host, "twice", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/twice:rafs", "--plain-http");
        using var proxy = new FlakyProxy(registry.Host, failures: 0, dropConnection: false);
        int uploadsBefore = UploadCount();
        await P2PDistCli.RunOkAsync("image", "convert", source.Replace(registry.Host, proxy.Host), $"{proxy.Host}/twice:rafs", "--plain-http");
        Assert.Equal(uploadsBefore, UploadCount());
    }

    /// <summary>Blob uploads started in the repository: exact, as the registry's proxy records each request before answering it.</summary>
    private int UploadCount() =>
        registry.Server.Exchanges.Count(e => e.Method == "POST" && e.Path.StartsWith("/v2/twice/blobs/uploads/", StringComparison.Ordinal));

    [Fact]
    public async Task DockerSchema2ManifestAndIndex_PlatformIsChosen()
    {
        using var client = Client("multi");
        async Task<Descriptor> PushManifestAsync(string fileContent, string mediaType, string layerMediaType, string configMediaType)
        {
            var tar = new MemoryStream();
            var writer = new TestTarWriter(tar);
            writer.File("platform", System.Text.Encoding.ASCII.GetBytes(fileContent));
            writer.Finish();
            byte[] layer = TestImage.Compress(tar.ToArray(), LayerCompression.Gzip);
            await client.PushBlobAsync(OciDigest.Sha256(layer), layer.Length, () => new MemoryStream(layer), None);
            byte[] config = JsonSerializer.SerializeToUtf8Bytes(new { architecture = fileContent, os = "linux", rootfs = new { type = "layers", diff_ids = new[] { OciDigest.Sha256(tar.ToArray()) } } });
            await client.PushBlobAsync(OciDigest.Sha256(config), config.Length, () => new MemoryStream(config), None);
            byte[] manifest = JsonSerializer.SerializeToUtf8Bytes(new
            {
                schemaVersion = 2,
                mediaType,
                config = new { mediaType = configMediaType, digest = OciDigest.Sha256(config), size = config.Length },
                layers = new[] { new { mediaType = layerMediaType, digest = OciDigest.Sha256(layer), size = layer.Length } },
            });
            await client.PushManifestAsync(OciDigest.Sha256(manifest), manifest, mediaType, None);
            return new Descriptor { MediaType = mediaType, Digest = OciDigest.Sha256(manifest), Size = manifest.Length, Platform = new Platform { Os = "linux", Architecture = fileContent } };
        }

        var arm = await PushManifestAsync("arm64", MediaTypes.DockerManifest, MediaTypes.DockerLayerGzip, MediaTypes.DockerConfig);
        var amd = await PushManifestAsync("amd64", MediaTypes.DockerManifest, MediaTypes.DockerLayerGzip, MediaTypes.DockerConfig);
        byte[] index = JsonSerializer.SerializeToUtf8Bytes(new ImageIndex { MediaType = MediaTypes.DockerManifestList, Manifests = [arm, amd] },
            new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
        await client.PushManifestAsync("list", index, MediaTypes.DockerManifestList, None);

        foreach (var (platform, expected) in new[] { ("linux/amd64", "amd64"), ("linux/arm64", "arm64") })
        {
            await P2PDistCli.RunOkAsync("image", "convert", $"{registry.Host}/multi:list", $"{registry.Host}/multi:{expected}-rafs", "--plain-http", "--platform", platform);
            string unpacked = Path.Combine(TestPaths.NewDirectory("multi"), "rootfs");
            await P2PDistCli.RunOkAsync("image", "unpack", $"{registry.Host}/multi:{expected}-rafs", unpacked, "--plain-http");
            Assert.Equal(expected, await File.ReadAllTextAsync(Path.Combine(unpacked, "platform")));
        }
        var missing = await P2PDistCli.RunAsync("image", "convert", $"{registry.Host}/multi:list", $"{registry.Host}/multi:s390x", "--plain-http", "--platform", "linux/s390x");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("no manifest for linux/s390x (it has: linux/arm64, linux/amd64)", missing.Stderr);
    }
}
