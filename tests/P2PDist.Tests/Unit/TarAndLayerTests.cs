using P2PDist.Conversion.Tar;
using P2PDist.Conversion.Tree;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

public sealed class TarAndLayerTests
{
    private static List<TarEntryHeader> ReadAll(Action<TestTarWriter> build)
    {
        var stream = new MemoryStream();
        var writer = new TestTarWriter(stream);
        build(writer);
        writer.Finish();
        stream.Position = 0;
        var reader = new TarStreamReader(stream);
        var entries = new List<TarEntryHeader>();
        while (reader.Next() is { } entry)
            entries.Add(entry);
        return entries;
    }

    [Fact]
    public void Reader_KeepsBinaryXattrsLongNamesAndNanoseconds()
    {
        byte[] capability = [1, 0, 0, 2, 0xFF, 0x80, 0, 0];
        string name = "dir/" + new string('x', 150) + "/файл";
        var entry = ReadAll(w => w.File(name, [1, 2, 3], xattrs: new() { ["security.capability"] = capability }, mtimeNs: 5)).Single();
        Assert.Equal(name, entry.Path);
        Assert.Equal(capability, entry.Xattrs["security.capability"]);
        Assert.Equal(5u, entry.MtimeNanoseconds);
        Assert.Equal(3, entry.Size);
    }

    [Fact]
    public void Reader_DevicesAndLinks()
    {
        var entries = ReadAll(w =>
        {
            w.CharDevice("null", 1, 3);
            w.Symlink("s", "target");
            w.HardLink("h", "null");
        });
        Assert.Equal((TarEntryKind.CharDevice, 1u, 3u), (entries[0].Kind, entries[0].DevMajor, entries[0].DevMinor));
        Assert.Equal("target", entries[1].LinkName);
        Assert.Equal(TarEntryKind.HardLink, entries[2].Kind);
    }

    [Fact]
    public void Reader_BadChecksum_IsAFormatError()
    {
        var stream = new MemoryStream();
        var writer = new TestTarWriter(stream);
        writer.File("f", [1]);
        var bytes = stream.ToArray();
        bytes[10] ^= 1;
        Assert.Throws<TarFormatException>(() => new TarStreamReader(new MemoryStream(bytes)).Next());
    }

    private static TarEntryHeader Entry(string path, TarEntryKind kind = TarEntryKind.Regular, string link = "") =>
        new() { Path = path, Kind = kind, Mode = 0x1A4, LinkName = link };

    [Fact]
    public void Applier_WhiteoutsOnlyHideLowerLayers()
    {
        var root = TreeNode.NewDirectory();
        var lower = new LayerApplier(root, "layer 0");
        lower.Apply(Entry("d/lower"));
        lower.Apply(Entry("d/gone"));
        var upper = new LayerApplier(root, "layer 1");
        upper.Apply(Entry("d/new"));
        upper.Apply(Entry("d/.wh..wh..opq"));
        upper.Apply(Entry("x/.wh.nothing"));
        Assert.Equal(["new"], root.Children!["d"].Children!.Keys);
    }

    [Fact]
    public void Applier_RefusesEscapesAndDuplicates()
    {
        var root = TreeNode.NewDirectory();
        var applier = new LayerApplier(root, "layer 3");
        Assert.Contains("'..'", Assert.Throws<P2PDistException>(() => applier.Apply(Entry("a/../../b"))).Message);
        Assert.Contains("absolute", Assert.Throws<P2PDistException>(() => applier.Apply(Entry("/etc/shadow"))).Message);
        applier.Apply(Entry("f"));
        Assert.Contains("duplicate", Assert.Throws<P2PDistException>(() => applier.Apply(Entry("f"))).Message);
        Assert.Contains("not in the image", Assert.Throws<P2PDistException>(() => applier.Apply(Entry("h", TarEntryKind.HardLink, "missing"))).Message);
    }

    [Fact]
    public void Applier_HardLinkAcrossLayers_SharesTheNode()
    {
        var root = TreeNode.NewDirectory();
        var file = new LayerApplier(root, "layer 0").Apply(Entry("bin/tool"));
        new LayerApplier(root, "layer 1").Apply(Entry("bin/alias", TarEntryKind.HardLink, "bin/tool"));
        Assert.Same(file, root.Children!["bin"].Children!["alias"]);
    }

    [Fact]
    public void Codec_IncompressibleChunk_IsStoredUncompressed()
    {
        using var codec = new ChunkCodec();
        var random = SampleImages.Bytes(65536, 1);
        var text = SampleImages.Text(65536, 1);
        var output = new byte[ChunkCodec.MaxCompressedSize(65536)];
        Assert.Equal(ChunkCompression.None, codec.Compress(ChunkCompression.Zstd, random, output, out int stored));
        Assert.Equal(65536, stored);
        Assert.Equal(ChunkCompression.Zstd, codec.Compress(ChunkCompression.Zstd, text, output, out int compressed));
        var back = new byte[65536];
        codec.Decompress(ChunkCompression.Zstd, output.AsSpan(0, compressed), back, "test chunk");
        Assert.Equal(text, back);
        Assert.Throws<P2PDistException>(() => codec.Decompress(ChunkCompression.Zstd, output.AsSpan(0, compressed / 2), back, "test chunk"));
    }

    [Theory]
    [InlineData("127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1")]
    [InlineData("localhost/team/app", "localhost", "team/app", null)]
    [InlineData("registry.example.com/a/b:1.2-rafs", "registry.example.com", "a/b", "1.2-rafs")]
    public void ImageReference_ParsesRegistryReferences(string text, string host, string repository, string? tag)
    {
        var reference = P2PDist.Oci.ImageReference.Parse(text);
        Assert.Equal((host, repository, tag), (reference.Registry, reference.Repository, reference.Tag));
    }

    [Theory]
    [InlineData("app:v1")]
    [InlineData("127.0.0.1:5000/App")]
    [InlineData("127.0.0.1:5000/app@sha256:123")]
    public void ImageReference_RefusesMalformed(string text) =>
        Assert.Throws<P2PDist.Oci.OciException>(() => P2PDist.Oci.ImageReference.Parse(text));

    [Fact]
    public void Announcements_CollapseIntoRanges()
    {
        var set = new P2PDist.Protos.Scheduler.OrdinalSet();
        foreach (uint ordinal in new uint[] { 10, 0, 1, 2, 3, 7, 9, 200, 63, 64 })
            set.Add(ordinal);
        set.Remove(63);
        set.AddRange(1_000_000, 3);
        var ranges = set.ToRanges("sha256:" + new string('a', 64));
        Assert.Equal([0u, 7u, 9u, 64u, 200u, 1_000_000u], ranges.Starts);
        Assert.Equal([4u, 1u, 2u, 1u, 1u, 3u], ranges.Lengths);
        Assert.Equal(12, set.Count);
    }
}
