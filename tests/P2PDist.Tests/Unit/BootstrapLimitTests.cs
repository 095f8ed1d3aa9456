using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Conversion.Images;
using P2PDist.Conversion.Tar;
using P2PDist.Oci;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

/// <summary>Review L4 (bootstrap knobs) and M9 (lossy names): what a hostile bootstrap or tar may not carry.</summary>
public sealed class BootstrapLimitTests
{
    private static byte[] Write(TreeNode root) => new BootstrapWriter(DigestAlgorithm.Blake3, 1 << 20).Write(root, new ChunkTableBuilder(), []);

    private static byte[] WithSymlink(string target)
    {
        var root = TreeNode.NewDirectory();
        root.Children!["link"] = new TreeNode(PosixMode.Symlink | 0x1FF) { SymlinkTarget = target, Size = (ulong)Encoding.UTF8.GetByteCount(target) };
        return Write(root);
    }

    [Fact]
    public void L4_SymlinkTargetOf100MiB_IsRejectedByValidate()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithSymlink(new string('a', 100 << 20)));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<RafsFormatException>(bootstrap.Validate);
        Assert.Contains("inode 2: symlink target of 104857600 bytes, over the 4095-byte limit", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"validation took {clock.Elapsed}");
    }

    [Fact]
    public void L4_SymlinkTargetOfPathMax_IsAccepted()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithSymlink(new string('a', 4095)));
        bootstrap.Validate();
        Assert.Equal(4095, bootstrap.SymlinkTarget(2).Length);
    }

    [Fact]
    public void L4_SymlinkTargetWithNul_IsRejectedByValidate()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithSymlink("etc/\0passwd"));
        Assert.Contains("inode 2: symlink target contains a NUL byte", Assert.Throws<RafsFormatException>(bootstrap.Validate).Message);
    }

    private static byte[] WithXattr(string name, byte[] value)
    {
        var root = TreeNode.NewDirectory();
        var file = new TreeNode(PosixMode.Regular | 0x1A4);
        file.Xattrs[name] = value;
        root.Children!["file"] = file;
        return Write(root);
    }

    [Fact]
    public void L4_XattrValueOver64KiB_IsRejectedByValidate()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithXattr("user.big", new byte[65537]));
        Assert.Contains("inode 2: xattr 'user.big' value of 65537 bytes, over the 65536-byte limit", Assert.Throws<RafsFormatException>(bootstrap.Validate).Message);
    }

    [Fact]
    public void L4_XattrNameWithNul_IsRejectedByValidate()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithXattr("user.a\0security.capability", [1]));
        Assert.Contains("contains a NUL byte", Assert.Throws<RafsFormatException>(bootstrap.Validate).Message);
    }

    [Fact]
    public void L4_XattrNameOver255Bytes_IsRejectedByValidate()
    {
        using var bootstrap = RafsBootstrap.FromBytes(WithXattr("user." + new string('n', 251), [1]));
        Assert.Contains("xattr name of 256 bytes, outside 1..255", Assert.Throws<RafsFormatException>(bootstrap.Validate).Message);
    }

    [Fact]
    public void L4_WalkOfADeepTreeOfLongNames_StopsAtPathMaxInsteadOfGoingQuadratic()
    {
        // 4,000 nested directories of 255-byte names: unbounded, every path would be up to 1 MB and the walk ~2 GB of strings.
        var root = TreeNode.NewDirectory();
        var node = root;
        for (int depth = 0; depth < 4000; depth++)
        {
            var child = TreeNode.NewDirectory();
            node.Children![new string((char)('a' + depth % 26), 255)] = child;
            node = child;
        }
        using var bootstrap = RafsBootstrap.FromBytes(Write(root));
        bootstrap.Validate();
        var clock = Stopwatch.StartNew();
        int walked = 0;
        var e = Assert.Throws<RafsFormatException>(() =>
        {
            foreach (var _ in bootstrap.Walk())
                walked++;
        });
        Assert.Contains("is longer than 4095 bytes (PATH_MAX)", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the walk took {clock.Elapsed}");
        Assert.Equal(17, walked); // the root and 16 levels: 16 x 256 - 1 = 4,095 bytes still fit
    }

    [Fact]
    public void M9_DirentNameThatIsNotUtf8_IsRejectedByValidate()
    {
        var root = TreeNode.NewDirectory();
        root.Children!["qqqqqqqq"] = new TreeNode(PosixMode.Regular | 0x1A4);
        var bytes = Write(root);
        int at = bytes.AsSpan().IndexOf("qqqqqqqq"u8);
        bytes[at] = 0xFF; // sorts the same (one entry), but is no longer UTF-8
        using var bootstrap = RafsBootstrap.FromBytes(bytes);
        Assert.Contains("is not valid UTF-8", Assert.Throws<RafsFormatException>(bootstrap.Validate).Message);
        Assert.Contains("is not valid UTF-8", Assert.Throws<RafsFormatException>(() => bootstrap.Walk().Count()).Message);
    }

    [Fact]
    public void M9_TarNameThatIsNotUtf8_IsRefusedNotDecodedLossily()
    {
        var stream = new MemoryStream();
        var writer = new TestTarWriter(stream);
        writer.File("ab", [1]);
        writer.Finish();
        var bytes = stream.ToArray();
        bytes[1] = 0xFE; // "a\xFE": lossily both "a\xFE" and "a\xFF" would be "a\uFFFD"
        RewriteChecksum(bytes);
        var e = Assert.Throws<TarFormatException>(() => new TarStreamReader(new MemoryStream(bytes)).Next());
        Assert.Contains("name 'a\uFFFD' is not valid UTF-8", e.Message);
    }

    private static void RewriteChecksum(byte[] header)
    {
        for (int i = 148; i < 156; i++)
            header[i] = (byte)' ';
        long sum = header.AsSpan(0, 512).ToArray().Sum(b => (long)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
    }

    [Theory]
    [InlineData(3L << 30, null, "is declared as 3,221,225,472 bytes, over the 2,147,483,647-byte limit; not downloaded")]
    [InlineData(2L << 20, 1L << 20, "is declared as 2,097,152 bytes, over the 1,048,576-byte limit; not downloaded")]
    public async Task L4_BootstrapDeclaredOverTheLimit_IsRefusedBeforeItIsDownloaded(long declared, long? configured, string expected)
    {
        string layout = TestPaths.NewDirectory("l4-layout");
        using var store = new OciLayoutStore(ImageReference.Parse($"oci:{layout}:rafs"));
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = OciDigest.Sha256("{}"u8), Size = 2 },
            // The blob is never written: a download attempt would fail differently ("missing"), a refusal comes first.
            Layers = [new Descriptor { MediaType = MediaTypes.RafsBootstrap, Digest = OciDigest.Sha256("never stored"u8), Size = declared }],
        };
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull });
        await store.PushManifestAsync("rafs", bytes, MediaTypes.OciManifest, CancellationToken.None);
        string work = TestPaths.NewDirectory("l4-work");
        var e = await Assert.ThrowsAsync<P2PDistException>(() => configured is { } limit
            ? RafsImage.OpenAsync(store, "linux/amd64", work, null, null, limit, CancellationToken.None)
            : RafsImage.OpenAsync(store, "linux/amd64", work, CancellationToken.None));
        Assert.Contains(expected, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(work));
    }
}
