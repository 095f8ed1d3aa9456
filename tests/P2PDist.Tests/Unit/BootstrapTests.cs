using System.Text;
using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

public sealed class BootstrapTests
{
    /// <summary>A small tree: /a/b/file (3 chunks), /a/link -> b/file, /a/hard (hard link to file), /empty.</summary>
    internal static byte[] BuildSample(out uint[] chunkIndices)
    {
        var table = new ChunkTableBuilder();
        int blob = table.AddBlob(new RafsBlob("sha256:" + new string('a', 64), 3000, 3));
        chunkIndices = new uint[3];
        for (int i = 0; i < 3; i++)
        {
            var digest = ChunkDigest.Compute(DigestAlgorithm.Blake3, [(byte)i]);
            chunkIndices[i] = table.Add(new RafsChunk((uint)blob, ChunkCompression.None, (ulong)(i * 1000), i == 2 ? 500u : 1000u, i == 2 ? 500u : 1000u, digest));
        }
        var root = TreeNode.NewDirectory();
        var a = TreeNode.NewDirectory();
        var b = TreeNode.NewDirectory();
        var file = new TreeNode(PosixMode.Regular | 0x1A4) { Size = 2500, Uid = 7, Gid = 8 };
        file.Chunks.AddRange(chunkIndices);
        file.Xattrs["user.x"] = [1, 2, 3];
        var link = new TreeNode(PosixMode.Symlink | 0x1FF) { SymlinkTarget = "b/file", Size = 6 };
        root.Children!["a"] = a;
        root.Children["empty"] = new TreeNode(PosixMode.Regular | 0x1A4);
        a.Children!["b"] = b;
        a.Children["link"] = link;
        a.Children["hard"] = file;
        b.Children!["file"] = file;
        return new BootstrapWriter(DigestAlgorithm.Blake3, 4096u).Write(root, table, ["a/b/file"]);
    }

    [Fact]
    public void Write_ThenOpen_LookupsResolvePathsChunksAndLinks()
    {
        using var bootstrap = RafsBootstrap.FromBytes(BuildSample(out var chunks));
        bootstrap.Validate();
        uint file = bootstrap.LookupPath("/a/b/file");
        Assert.NotEqual(0u, file);
        Assert.Equal(file, bootstrap.LookupPath("a/hard"));
        var inode = bootstrap.GetInode(file);
        Assert.Equal(2u, inode.Nlink);
        Assert.Equal(2500ul, inode.Size);
        Assert.Equal(7u, inode.Uid);
        Assert.Equal("b/file", bootstrap.SymlinkTarget(bootstrap.LookupPath("/a/link")));
        Assert.Equal(0u, bootstrap.LookupPath("/a/missing"));
        Assert.Equal(0u, bootstrap.LookupChild(file, "x"u8));
        Assert.Equal([1, 2, 3], bootstrap.Xattrs(file).Single().Value);
        Assert.Equal(chunks[1], bootstrap.GetChunkRef((uint)bootstrap.FindChunkRef(file, 1999)).ChunkIndex);
        Assert.Equal(chunks[2], bootstrap.GetChunkRef((uint)bootstrap.FindChunkRef(file, 2000)).ChunkIndex);
        Assert.Equal(-1, bootstrap.FindChunkRef(file, 2500));
        Assert.Equal(file, bootstrap.GetPrefetchIno(0));
        Assert.Equal(3u, bootstrap.GetInode(bootstrap.RootIno).Nlink); // root: 2 + one subdirectory ("a")
        Assert.Equal(["a", "a/b", "a/b/file", "a/hard", "a/link", "empty"], bootstrap.Walk().Select(w => w.Path).Where(p => p.Length > 0));
    }

    [Fact]
    public void Open_TruncatedOrForeignBytes_FailsWithFormatError()
    {
        var bytes = BuildSample(out _);
        Assert.Throws<RafsFormatException>(() => RafsBootstrap.FromBytes(bytes[..100]));
        Assert.Throws<RafsFormatException>(() => RafsBootstrap.FromBytes(bytes[..^8]));
        var foreign = (byte[])bytes.Clone();
        foreign[0] = (byte)'X';
        var e = Assert.Throws<RafsFormatException>(() => RafsBootstrap.FromBytes(foreign));
        Assert.Contains("bad magic", e.Message);
    }

    [Fact]
    public void Open_RandomlyMutatedBootstraps_NeverCrashOrReadOutOfBounds()
    {
        var original = BuildSample(out _);
        var random = new Random(1234);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        int rejected = 0, accepted = 0;
        for (int round = 0; round < 20_000 && DateTime.UtcNow < deadline; round++)
        {
            var bytes = (byte[])original.Clone();
            int mutations = random.Next(1, 6);
            for (int m = 0; m < mutations; m++)
            {
                int at = random.Next(bytes.Length);
                bytes[at] = random.Next(3) switch { 0 => (byte)random.Next(256), 1 => 0xFF, _ => 0 };
            }
            if (random.Next(10) == 0)
                bytes = bytes[..random.Next(bytes.Length)];
            try
            {
                using var bootstrap = RafsBootstrap.FromBytes(bytes);
                bootstrap.Validate();
                foreach (var (path, ino) in bootstrap.Walk())
                {
                    bootstrap.Xattrs(ino);
                    bootstrap.FindChunkRef(ino, 1500);
                    bootstrap.LookupPath(path);
                }
                accepted++;
            }
            catch (RafsFormatException)
            {
                rejected++;
            }
        }
        Assert.True(rejected > 100, $"only {rejected} mutations were rejected ({accepted} accepted)");
    }

    [Fact]
    public void Open_MappedFile_MatchesInMemory()
    {
        string path = Path.Combine(Path.GetTempPath(), "bootstrap-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, BuildSample(out _));
        try
        {
            using var bootstrap = RafsBootstrap.Open(path);
            bootstrap.Validate();
            Assert.NotEqual(0u, bootstrap.LookupPath("/a/b/file"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Write_NamesSortedByUtf8Bytes_SoBinarySearchFindsNonAscii()
    {
        var table = new ChunkTableBuilder();
        var root = TreeNode.NewDirectory();
        string[] names = ["z", "é", "A", "数据", "a", "Z", "ß"];
        foreach (var name in names)
            root.Children![name] = new TreeNode(PosixMode.Regular | 0x1A4);
        using var bootstrap = RafsBootstrap.FromBytes(new BootstrapWriter(DigestAlgorithm.Sha256, 1 << 20).Write(root, table, []));
        bootstrap.Validate();
        foreach (var name in names)
            Assert.NotEqual(0u, bootstrap.LookupChild(bootstrap.RootIno, Encoding.UTF8.GetBytes(name)));
    }
}
