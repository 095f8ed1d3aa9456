using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Convert real images in a real registry with the real CLI, then unpack and compare with GNU tar's unpack of the source.</summary>
[Collection(RegistryCollection.Name)]
public sealed class ConversionRoundTripTests(RegistryFixture registry)
{
    private async Task AssertRoundTripAsync(TestImage image, string repository, params string[] convertFlags)
    {
        string source = await image.PushAsync(registry.Host, repository, "v1");
        string target = $"{registry.Host}/{repository}:v1-rafs";
        var convert = await P2PDistCli.RunOkAsync(["image", "convert", source, target, "--plain-http", .. convertFlags]);
        Assert.Contains("dedup ratio", convert.Stdout);

        string unpacked = Path.Combine(TestPaths.NewDirectory("unpack"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", target, unpacked, "--plain-http", "--preserve-privileged");
        string reference = await image.ReferenceUnpackAsync();
        TreeSnapshot.AssertEqual(await TreeSnapshot.CaptureAsync(reference), await TreeSnapshot.CaptureAsync(unpacked));

        var check = await P2PDistCli.RunOkAsync("image", "check", target, "--plain-http");
        Assert.Contains("ok:", check.Stdout);
    }

    [Fact]
    public Task RichImage_ConvertThenUnpack_EqualsSourceUnpack() => AssertRoundTripAsync(SampleImages.Rich(), "rich");

    [Theory]
    [InlineData("64K", "lz4", "sha256")]
    [InlineData("16M", "none", "blake3")]
    public Task RichImage_OtherChunkSizesCodecsAndDigests_RoundTrip(string chunkSize, string compression, string digest) =>
        AssertRoundTripAsync(SampleImages.Rich(), $"rich-{chunkSize.ToLowerInvariant()}-{compression}",
            "--chunk-size", chunkSize, "--compression", compression, "--digest", digest);

    [Fact]
    public Task DirectoryOf20000Files_RoundTrip() => AssertRoundTripAsync(SampleImages.ManyFiles(20_000), "many-files");

    [Fact]
    public async Task Inspect_ReportsTreeChunksAndDedup()
    {
        string source = await SampleImages.Rich().PushAsync(registry.Host, "inspect-me", "v1");
        string target = $"{registry.Host}/inspect-me:rafs";
        await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http");
        var inspect = await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http", "--files");
        Assert.Contains("format: Rafs v1, blake3", inspect.Stdout);
        Assert.Contains("2 extra hard-link names", inspect.Stdout); // bin/tool-hardlink and etc/config-hardlink-across-layers
        Assert.Matches(@"dedup ratio: 1\.[0-9]{3}", inspect.Stdout);
        Assert.Contains("/etc/link-to-config -> config", inspect.Stdout);
        Assert.DoesNotContain("/etc/to-delete", inspect.Stdout);
        Assert.Contains("/opaque/both", inspect.Stdout);
        Assert.DoesNotContain("/opaque/lower-only", inspect.Stdout);
    }

    [Fact]
    public async Task Check_FlippedByteInBlob_ReportsTheFileAndOffset()
    {
        // Content of its own: blobs are shared by digest across the registry, and this test corrupts one.
        var image = new TestImage().Layer(w => w.File("bin/tool", SampleImages.Bytes(3 << 20, 777)));
        string source = await image.PushAsync(registry.Host, "flip", "v1");
        string target = $"{registry.Host}/flip:rafs";
        await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http");
        await P2PDistCli.RunOkAsync("image", "check", target, "--plain-http");

        // The blob holds bin/tool (random, so stored uncompressed): flip a byte inside its second chunk.
        var inspect = await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http");
        string blobDigest = inspect.Stdout.Split('\n').First(l => l.TrimStart().StartsWith("sha256:", StringComparison.Ordinal)).Trim().Split(' ')[0];
        string data = registry.Server.BlobDataPath(blobDigest);
        await using (var file = new FileStream(data, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = (1 << 20) + 100;
            int b = file.ReadByte();
            file.Position = (1 << 20) + 100;
            file.WriteByte((byte)(b ^ 0xFF));
        }
        var check = await P2PDistCli.RunAsync("image", "check", target, "--plain-http");
        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("BAD bad chunk", check.Stdout);
        Assert.Contains("/bin/tool at offset 1048576", check.Stdout);
        Assert.Contains("digest mismatch", check.Stdout);
    }

    [Fact]
    public async Task ChunkDictionary_SecondVersionReusesChunksOfTheFirst()
    {
        byte[] big = SampleImages.Bytes(6 << 20, 42);
        var v1 = new TestImage().Layer(w => { w.File("app/big.bin", big); w.File("app/version", "1"u8.ToArray()); });
        var v2 = new TestImage().Layer(w => { w.File("app/big.bin", big); w.File("app/version", "2"u8.ToArray()); w.File("app/new", SampleImages.Bytes(100_000, 43)); });
        string source1 = await v1.PushAsync(registry.Host, "dict-app", "v1");
        string source2 = await v2.PushAsync(registry.Host, "dict-app", "v2");
        await P2PDistCli.RunOkAsync("image", "convert", source1, $"{registry.Host}/dict-app:v1-rafs", "--plain-http");

        var without = await P2PDistCli.RunOkAsync("image", "convert", source2, $"{registry.Host}/dict-app-nodict:v2-rafs", "--plain-http");
        var with = await P2PDistCli.RunOkAsync("image", "convert", source2, $"{registry.Host}/dict-app-b:v2-rafs", "--plain-http",
            "--chunk-dict", $"{registry.Host}/dict-app:v1-rafs");
        Assert.Contains("0 reused from the chunk dictionary", without.Stdout);
        Assert.Contains("6 reused from the chunk dictionary", with.Stdout);
        Assert.Contains("2 stored new", with.Stdout);

        string unpacked = Path.Combine(TestPaths.NewDirectory("dict"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", $"{registry.Host}/dict-app-b:v2-rafs", unpacked, "--plain-http", "--preserve-privileged");
        Assert.Equal(big, await File.ReadAllBytesAsync(Path.Combine(unpacked, "app/big.bin")));
        Assert.Equal("2", await File.ReadAllTextAsync(Path.Combine(unpacked, "app/version")));
        await P2PDistCli.RunOkAsync("image", "check", $"{registry.Host}/dict-app-b:v2-rafs", "--plain-http");
    }

    [Fact]
    public async Task OciLayoutTarget_RoundTripsAndKeepsTheSourceConfig_WithRafsDiffIds()
    {
        var image = SampleImages.Rich();
        string source = await image.PushAsync(registry.Host, "to-layout", "v1");
        string layout = Path.Combine(TestPaths.NewDirectory("layout"), "image");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"oci:{layout}:rafs", "--plain-http");
        Assert.True(File.Exists(Path.Combine(layout, "oci-layout")));
        // The config is the source's but for rootfs.diff_ids, which name the Rafs layers (containerd pairs them).
        string Blob(string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
        using var index = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(layout, "index.json")));
        using var manifest = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(Blob(index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!)));
        var layers = manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!).ToArray();
        var converted = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllBytesAsync(Blob(manifest.RootElement.GetProperty("config").GetProperty("digest").GetString()!)))!.AsObject();
        Assert.Equal(layers, converted["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()));
        var expected = System.Text.Json.Nodes.JsonNode.Parse(image.ConfigBytes)!.AsObject();
        expected.Remove("rootfs");
        converted.Remove("rootfs");
        Assert.Equal(expected.ToJsonString(), converted.ToJsonString());

        string unpacked = Path.Combine(TestPaths.NewDirectory("layout-unpack"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", $"oci:{layout}:rafs", unpacked, "--preserve-privileged");
        TreeSnapshot.AssertEqual(await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync()), await TreeSnapshot.CaptureAsync(unpacked));
    }
}
