using System.Diagnostics;
using P2PDist.Oci;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Review M9 end to end: hostile layers and bootstraps against the real CLI and a real registry.</summary>
[Collection(RegistryCollection.Name)]
public sealed class HostileConversionTests(RegistryFixture registry)
{
    private const int ZeroMember = 256 << 20;

    /// <summary>A gzip layer: one tar entry "zeros" of members x 256 MiB, as concatenated gzip members (about 250 KiB each).</summary>
    private static byte[] GzipBombLayer(int members, bool trailingAfterEnd)
    {
        var output = new MemoryStream();
        var header = new MemoryStream();
        var tar = new TestTarWriter(header);
        if (trailingAfterEnd)
        {
            tar.File("small", "x"u8.ToArray());
            tar.Finish();
            output.Write(RawImagePusher.GzipMember(header.ToArray()));
            RawImagePusher.WriteZeroMembers(output, ZeroMember, members); // after the end-of-archive marker
            return output.ToArray();
        }
        tar.LargeFile("zeros", (long)members * ZeroMember, (_, _) => { });
        output.Write(RawImagePusher.GzipMember(header.ToArray()));
        RawImagePusher.WriteZeroMembers(output, ZeroMember, members);
        var end = new MemoryStream();
        new TestTarWriter(end).Finish();
        output.Write(RawImagePusher.GzipMember(end.ToArray()));
        return output.ToArray();
    }

    [Theory]
    [InlineData("--max-compression-ratio", "100", "100 times its")]
    [InlineData("--max-layer-bytes", "1G", "the 1,073,741,824-byte limit per layer (--max-layer-bytes)")]
    public async Task M9_SmallGzipLayerExpandingTo16GiBOfZeros_IsRefusedWithinSeconds(string flag, string value, string expected)
    {
        byte[] layer = GzipBombLayer(64, trailingAfterEnd: false);
        Assert.True(layer.Length < 32 << 20, $"the bomb is {layer.Length} bytes");
        string repository = $"gzip-bomb-{flag.Trim('-')}";
        string source = await RawImagePusher.PushAsync(registry.Host, repository, "v1", [(MediaTypes.OciLayerGzip, layer)]);
        var clock = Stopwatch.StartNew();
        var result = await P2PDistCli.RunAsync(TimeSpan.FromMinutes(2), "image", "convert", source, $"{registry.Host}/{repository}:rafs", "--plain-http", flag, value);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("layer 0", result.Stderr);
        Assert.Contains("refused, the layer expands to more than", result.Stderr);
        Assert.Contains(expected, result.Stderr);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"refusing took {clock.Elapsed}");
        Assert.False(registry.Server.HasTag(repository, "rafs"));
    }

    [Fact]
    public async Task M9_GigabytesAfterTheEndOfArchiveMarker_AreNotInflated()
    {
        byte[] layer = GzipBombLayer(64, trailingAfterEnd: true);
        string source = await RawImagePusher.PushAsync(registry.Host, "trailing-bomb", "v1", [(MediaTypes.OciLayerGzip, layer)]);
        var convert = await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/trailing-bomb:rafs", "--plain-http");
        // Only the archive itself was inflated (3 blocks = 1,536 bytes; the decompressor reads ahead at most a buffer).
        var tarBytes = long.Parse(System.Text.RegularExpressions.Regex.Match(convert.Stdout, @"([0-9,]+) bytes of tar").Groups[1].Value.Replace(",", ""));
        Assert.True(tarBytes < 1 << 20, $"{tarBytes} bytes of tar were read");
    }

    [Fact]
    public async Task M9_TrailingBytesAfterTheEndOfArchive_StillHaveTheirDigestChecked()
    {
        // A layer whose stored bytes differ from its descriptor's digest is refused even if the tar is complete.
        var tar = new MemoryStream();
        var writer = new TestTarWriter(tar);
        writer.File("f", "x"u8.ToArray());
        writer.Finish();
        byte[] good = RawImagePusher.GzipMember(tar.ToArray());
        string source = await RawImagePusher.PushAsync(registry.Host, "digest-after-end", "v1", [(MediaTypes.OciLayerGzip, good)]);
        string blob = OciDigest.Sha256(good);
        await using (var file = new FileStream(registry.Server.BlobDataPath(blob), FileMode.Open, FileAccess.ReadWrite))
        {
            // The last byte is the gzip trailer (ISIZE), after the end-of-archive marker: never needed to read the tar.
            file.Position = file.Length - 1;
            int last = file.ReadByte();
            file.Position = file.Length - 1;
            file.WriteByte((byte)(last ^ 0xFF));
        }
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{registry.Host}/digest-after-end:rafs", "--plain-http", "--timeout", "5");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(blob, result.Stderr);
        Assert.Contains("digest mismatch", result.Stderr);
    }

    [Fact]
    public async Task M9_LayerWithMoreEmptyEntriesThanTheLimit_IsRefused()
    {
        var image = new TestImage().Layer(w =>
        {
            for (int i = 0; i < 60_000; i++)
                w.File($"e{i}", []);
        });
        string source = await image.PushAsync(registry.Host, "many-entries", "v1");
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{registry.Host}/many-entries:rafs", "--plain-http", "--max-layer-entries", "50000");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("layer 0", result.Stderr);
        Assert.Contains("entry 'e50000': refused, the layer has more than 50,000 entries (--max-layer-entries)", result.Stderr);
    }

    [Fact]
    public async Task M9_FileDeclaring2Pow62Bytes_IsRefusedAtItsHeaderByTheDefaultLimit()
    {
        var image = new TestImage().Layer(w => w.LargeFile("huge", 1L << 62, (_, _) => { }));
        string source = await image.PushAsync(registry.Host, "huge-file", "v1");
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{registry.Host}/huge-file:rafs", "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("entry 'huge': refused, a file of 4,611,686,018,427,387,904 bytes is over the 34,359,738,368-byte limit per file (--max-file-bytes)", result.Stderr);
    }

    [Fact]
    public async Task M9_HandBuiltBootstrapReferencingOneChunk100000Times_IsRefusedByUnpacksTotalBytesLimit()
    {
        byte[] chunk = SampleImages.Bytes(1 << 20, 99);
        string blobDigest = OciDigest.Sha256(chunk);
        var table = new ChunkTableBuilder();
        int blob = table.AddBlob(new RafsBlob(blobDigest, (ulong)chunk.Length, 1));
        uint only = table.Add(new RafsChunk((uint)blob, ChunkCompression.None, 0, (uint)chunk.Length, (uint)chunk.Length, ChunkDigest.Compute(DigestAlgorithm.Blake3, chunk)));
        var root = TreeNode.NewDirectory();
        var big = new TreeNode(PosixMode.Regular | 0x1A4) { Size = 100_000UL << 20 };
        big.Chunks.AddRange(Enumerable.Repeat(only, 100_000));
        root.Children!["big"] = big;
        byte[] bootstrap = new BootstrapWriter(DigestAlgorithm.Blake3, 1 << 20).Write(root, table, []);
        string image = await RawImagePusher.PushAsync(registry.Host, "one-chunk-many-refs", "rafs",
            [(MediaTypes.RafsBlob, chunk), (MediaTypes.RafsBootstrap, bootstrap)], new() { [MediaTypes.AnnotationRafsVersion] = "1" });

        string target = Path.Combine(TestPaths.NewDirectory("amplified"), "rootfs");
        var clock = Stopwatch.StartNew();
        var result = await P2PDistCli.RunAsync("image", "unpack", image, target, "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("unpack refused at '/big' (104,857,600,000 bytes)", result.Stderr);
        Assert.Contains("more than the 68,719,476,736-byte limit (--max-bytes)", result.Stderr);
        Assert.False(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(target)!));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"refusing took {clock.Elapsed}");
    }

    [Fact]
    public async Task M9_UnpackOfSetuidBinaryCharDeviceAndCapability_DoesNotRestoreThemByDefault()
    {
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        var image = new TestImage().Layer(w =>
        {
            w.Directory("bin");
            w.File("bin/id", SampleImages.Bytes(5000, 5), mode: 0x9ED /* 04755 */);
            w.File("bin/wall", SampleImages.Bytes(500, 6), mode: 0x5ED /* 02755 */);
            w.File("bin/ping", SampleImages.Bytes(600, 7), mode: 0x1ED, xattrs: new() { ["security.capability"] = capability, ["user.note"] = [1, 2] });
            w.CharDevice("dev/mem-like", 1, 3);
            w.Directory("shared", mode: 0x5FF /* 02777: setgid on a directory only sets the group of new files */);
        });
        string source = await image.PushAsync(registry.Host, "privileged", "v1");
        string rafs = $"{registry.Host}/privileged:rafs";
        await P2PDistCli.RunOkAsync("image", "convert", source, rafs, "--plain-http");

        string plain = Path.Combine(TestPaths.NewDirectory("unprivileged"), "rootfs");
        var unpack = await P2PDistCli.RunOkAsync("image", "unpack", rafs, plain, "--plain-http");
        Assert.Contains("not restored: 2 setuid/setgid bits, 1 device nodes, 1 security/trusted xattrs (use --preserve-privileged)", unpack.Stdout);
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(Path.Combine(plain, "bin/id")));
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(Path.Combine(plain, "bin/wall")));
        Assert.Equal((UnixFileMode)0x5FF, File.GetUnixFileMode(Path.Combine(plain, "shared")));
        Assert.False(File.Exists(Path.Combine(plain, "dev/mem-like")));
        var xattrs = P2PDist.Conversion.Native.LibC.GetXattrs(Path.Combine(plain, "bin/ping"));
        Assert.Equal(["user.note"], xattrs.Keys);

        string preserved = Path.Combine(TestPaths.NewDirectory("privileged"), "rootfs");
        var full = await P2PDistCli.RunOkAsync("image", "unpack", rafs, preserved, "--plain-http", "--preserve-privileged");
        Assert.DoesNotContain("not restored", full.Stdout);
        Assert.Equal((UnixFileMode)0x9ED, File.GetUnixFileMode(Path.Combine(preserved, "bin/id")));
        Assert.Equal((UnixFileMode)0x5ED, File.GetUnixFileMode(Path.Combine(preserved, "bin/wall")));
        Assert.Equal(capability, P2PDist.Conversion.Native.LibC.GetXattrs(Path.Combine(preserved, "bin/ping"))["security.capability"]);
        var stat = await ProcessRunner.RunCheckedAsync("stat", "-c", "%F %t:%T", Path.Combine(preserved, "dev/mem-like"));
        Assert.Equal("character special file 1:3", stat.Stdout.Trim());
    }

    [Fact]
    public async Task M9_UnpackHelp_DocumentsThePrivilegePolicy()
    {
        var help = await P2PDistCli.RunOkAsync("image", "unpack", "--help");
        string text = System.Text.RegularExpressions.Regex.Replace(help.Stdout, @"\s+", " ");
        Assert.Contains("--preserve-privileged", text);
        Assert.Contains("setuid/setgid bits, device nodes and security.*/trusted.* xattrs are left out, even when run as root", text);
    }
}
