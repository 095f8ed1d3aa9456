using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer.Cache;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fetch;
using P2PDist.Peer.Fuse;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// The chunk cache at rest (review M1, M5, L2) and the small resource knobs of L4 and L9, in-process: damage,
/// stray files and pressure are injected on disk, and a reader still gets the right bytes afterwards.
/// </summary>
public sealed class ChunkCacheRepairTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 8, chunksPerFile: 4, seed: 800);
    private readonly string _directory = TestPaths.NewDirectory("cache-repair");
    private readonly List<string> _log = [];

    private string CacheDir => Path.Combine(_directory, "cache");

    private ChunkCache NewCache(long quota = 0) => new(CacheDir, quota, message => { lock (_log) _log.Add(message); });

    private string ChunkPath(uint chunkIndex)
    {
        string hex = Convert.ToHexStringLower(_image.Bootstrap.GetChunk(chunkIndex).Digest.Bytes);
        return Path.Combine(CacheDir, "chunks", hex[..2], "blake3-" + hex);
    }

    private static async Task<byte[]> ReadFileAsync(ChunkProvider provider, InProcessImage image, int file)
    {
        var (start, count) = image.Bootstrap.ChunkRefRange(image.Bootstrap.LookupPath($"/f{file}"));
        var content = new byte[count * InProcessImage.ChunkSize];
        for (uint i = 0; i < count; i++)
        {
            uint chunkIndex = image.Bootstrap.GetChunkRef(start + i).ChunkIndex;
            await provider.CopyAsync(chunkIndex, 0, content.AsMemory((int)(i * InProcessImage.ChunkSize), (int)InProcessImage.ChunkSize), 0, CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        return content;
    }

    [Fact]
    public async Task M1_CorruptAndTruncatedChunks_AreDetectedOnFirstOpen_ReplacedByRefetch_AndNeverServed()
    {
        var origin = new FakeOrigin(_image.Blob);
        var first = NewCache();
        using (var provider = new ChunkProvider(_image.Bootstrap, first, origin, 0, _ => { }))
            Assert.Equal(_image.Files[0], await ReadFileAsync(provider, _image, 0));
        Assert.Equal(4, origin.Calls);

        // At rest, between two runs: bit rot of the same length in chunk 0, a power-loss truncation of chunk 1.
        File.WriteAllBytes(ChunkPath(0), SampleImages.Bytes((int)InProcessImage.ChunkSize, 4242));
        File.WriteAllBytes(ChunkPath(1), []);
        var restarted = NewCache();
        Assert.Null(restarted.PathOfName(Path.GetFileName(ChunkPath(0)))); // a neighbour is never sent the rotten bytes
        Assert.False(File.Exists(ChunkPath(0)), "the damaged file should be removed");
        using (var provider = new ChunkProvider(_image.Bootstrap, restarted, origin, 0, _ => { }))
        {
            Assert.Equal(_image.Files[0], await ReadFileAsync(provider, _image, 0));
            Assert.Equal(6, origin.Calls); // exactly the two bad chunks fetched again
            Assert.Equal(_image.Files[0], await ReadFileAsync(provider, _image, 0));
            Assert.Equal(6, origin.Calls); // and then served from the cache, not refetched on every read
        }
        Assert.Equal(_image.ChunkBytes(0), File.ReadAllBytes(ChunkPath(0)));
        Assert.Equal(_image.ChunkBytes(1), File.ReadAllBytes(ChunkPath(1)));
        Assert.Equal(2, restarted.Repairs);
        Assert.Contains(_log, l => l.Contains("do not match the digest", StringComparison.Ordinal));
    }

    [Fact]
    public void M1_StoreReplacesADamagedFileOfThatName_InsteadOfKeepingIt()
    {
        var chunk = _image.Bootstrap.GetChunk(2);
        Directory.CreateDirectory(Path.GetDirectoryName(ChunkPath(2))!);
        File.WriteAllBytes(ChunkPath(2), new byte[10]);
        var cache = NewCache();
        cache.Store(chunk.Digest, _image.ChunkBytes(2));
        Assert.Equal(_image.ChunkBytes(2), File.ReadAllBytes(ChunkPath(2)));
        Assert.Equal(InProcessImage.ChunkSize, cache.SizeBytes);
        using var handle = cache.TryOpen(chunk.Digest, chunk.UncompressedSize);
        Assert.NotNull(handle);
    }

    [Fact]
    public async Task L2_StrayFilesUnderChunks_AreRemovedAtStart_AndReadsPastTheQuotaKeepWorking()
    {
        string chunks = Path.Combine(CacheDir, "chunks");
        string validElsewhere = "blake3-" + Convert.ToHexStringLower(_image.Bootstrap.GetChunk(0).Digest.Bytes);
        string[] strays = [Path.Combine(chunks, "aa", "garbage"), Path.Combine(chunks, "blake3-x~"), Path.Combine(chunks, "zz", validElsewhere), Path.Combine(chunks, "ab", "cd", "sha256-nothex")];
        foreach (string stray in strays)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(stray)!);
            File.WriteAllBytes(stray, new byte[1000]);
        }
        long quota = 8 * InProcessImage.ChunkSize;
        var cache = NewCache(quota);
        Assert.All(strays, s => Assert.False(File.Exists(s), $"{s} should be removed"));
        Assert.Equal(0, cache.SizeBytes);

        using var provider = new ChunkProvider(_image.Bootstrap, cache, new FakeOrigin(_image.Blob), 0, _ => { });
        for (int file = 0; file < _image.Files.Length; file++) // 32 chunks through an 8-chunk quota
            Assert.Equal(_image.Files[file], await ReadFileAsync(provider, _image, file));
        long onDisk = Directory.EnumerateFiles(chunks, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(cache.SizeBytes <= quota && onDisk == cache.SizeBytes, $"index {cache.SizeBytes}, disk {onDisk}, quota {quota}");
        Assert.True(cache.Evictions >= 24, $"{cache.Evictions} evictions");
    }

    [Fact]
    public async Task M5_PinsAreCappedAtHalfTheQuota_AndEvictedChunksKeptHandlesAreClosed()
    {
        long quota = 8 * InProcessImage.ChunkSize;
        var cache = NewCache(quota);
        using var provider = new ChunkProvider(_image.Bootstrap, cache, new FakeOrigin(_image.Blob), 0, _ => { });
        // Open files holding 16 chunks (twice the quota): only half the quota is protected.
        for (uint c = 0; c < 16; c++)
            provider.Pin(c);
        Assert.Equal(cache.PinCapBytes, cache.PinnedBytes);
        for (int file = 0; file < _image.Files.Length; file++)
            Assert.Equal(_image.Files[file], await ReadFileAsync(provider, _image, file));
        Assert.True(cache.SizeBytes <= quota, $"cache {cache.SizeBytes} over quota {quota}");
        Assert.True(File.Exists(ChunkPath(0)) && File.Exists(ChunkPath(3)), "protected pinned chunks stay");
        // No handle of this process still holds a deleted chunk file (its disk space would not be freed).
        var deleted = Directory.EnumerateFiles("/proc/self/fd").Select(fd => { try { return new FileInfo(fd).LinkTarget; } catch (IOException) { return null; } })
            .Where(t => t is not null && t.StartsWith(CacheDir, StringComparison.Ordinal) && t.EndsWith("(deleted)", StringComparison.Ordinal)).ToList();
        Assert.Empty(deleted);
        for (uint c = 0; c < 16; c++)
            provider.Unpin(c);
        Assert.Equal(0, cache.PinnedBytes);
    }

    [Fact]
    public void M5_MaterializedCopies_CountTowardTheQuota_AndAreEvictedWithChunks()
    {
        long quota = 16 * InProcessImage.ChunkSize;
        var cache = NewCache(quota);
        using var materializer = new FileMaterializer(cache, Path.Combine(CacheDir, "files"));
        for (int file = 0; file < _image.Files.Length; file++)
        {
            var (start, count) = _image.Bootstrap.ChunkRefRange(_image.Bootstrap.LookupPath($"/f{file}"));
            var chunks = Enumerable.Range((int)start, (int)count).Select(r => _image.Bootstrap.GetChunk(_image.Bootstrap.GetChunkRef((uint)r).ChunkIndex)).ToList();
            foreach (var chunk in chunks)
                cache.Store(chunk.Digest, _image.ChunkBytes(_image.Bootstrap.GetChunkRef(start).ChunkIndex + (uint)chunks.IndexOf(chunk)));
            string? copy = materializer.TryMaterialize(chunks, (ulong)_image.Files[file].Length);
            Assert.NotNull(copy);
            Assert.Equal(_image.Files[file], File.ReadAllBytes(copy));
        }
        long onDisk = Directory.EnumerateFiles(CacheDir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(onDisk <= quota, $"{onDisk} bytes on disk, quota {quota}");

        // A truncated copy (M1) is made again, not handed to the kernel.
        var (s0, n0) = _image.Bootstrap.ChunkRefRange(_image.Bootstrap.LookupPath("/f7"));
        var last = Enumerable.Range((int)s0, (int)n0).Select(r => _image.Bootstrap.GetChunk(_image.Bootstrap.GetChunkRef((uint)r).ChunkIndex)).ToList();
        string path = materializer.TryMaterialize(last, (ulong)_image.Files[7].Length)!;
        File.WriteAllBytes(path, new byte[100]);
        Assert.Equal(path, materializer.TryMaterialize(last, (ulong)_image.Files[7].Length));
        Assert.Equal(_image.Files[7], File.ReadAllBytes(path));
    }

    [Fact]
    public void L4_ChunkDigestHashCode_MixesTheWholeDigest()
    {
        // A hostile bootstrap picks digests sharing their first bytes: they must still spread over hash codes.
        var codes = Enumerable.Range(0, 1000).Select(i =>
        {
            var bytes = new byte[32];
            BitConverter.TryWriteBytes(bytes.AsSpan(28), i);
            return new ChunkDigest(DigestAlgorithm.Blake3, bytes).GetHashCode();
        }).ToHashSet();
        Assert.True(codes.Count > 990, $"{codes.Count} distinct hash codes of 1000 digests");
        var a = new ChunkDigest(DigestAlgorithm.Blake3, new byte[32]);
        Assert.Equal(a.GetHashCode(), new ChunkDigest(DigestAlgorithm.Blake3, new byte[32]).GetHashCode());
        Assert.NotEqual(a, new ChunkDigest(DigestAlgorithm.Sha256, new byte[32]));
    }

    [Fact]
    public void L4_ReadLink_AllocatesNothingPerCallBeyondTheReply()
    {
        var root = TreeNode.NewDirectory();
        string target = new('t', 3000);
        root.Children!["link"] = new TreeNode(PosixMode.Symlink | 0x1FF) { SymlinkTarget = target };
        using var bootstrap = RafsBootstrap.FromBytes(new BootstrapWriter(DigestAlgorithm.Blake3, InProcessImage.ChunkSize).Write(root, new ChunkTableBuilder(), []));
        var cache = NewCache();
        using var provider = new ChunkProvider(bootstrap, cache, new FakeOrigin([]), 0, _ => { });
        var fs = new RafsFileSystem(bootstrap, provider, null, TimeSpan.FromSeconds(30), NullLogger.Instance);
        uint ino = bootstrap.LookupPath("/link");
        var reply = new FuseReply();
        for (int i = 0; i < 10; i++)
        {
            reply.Reset();
            Assert.Equal(0, fs.ReadLink(ino, reply));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            reply.Reset();
            fs.ReadLink(ino, reply);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1000, $"{allocated} bytes allocated by 1,000 READLINKs");
        Assert.Equal(target, System.Text.Encoding.UTF8.GetString(reply.Buffer, P2PDist.Peer.Fuse.FuseProtocol.OutHeaderSize, reply.Length - P2PDist.Peer.Fuse.FuseProtocol.OutHeaderSize));
    }

    [Fact]
    public void L9_OpenThatCannotMaterialize_StillBalancesItsPins()
    {
        var cache = NewCache(64 * InProcessImage.ChunkSize);
        using var provider = new ChunkProvider(_image.Bootstrap, cache, new FakeOrigin(_image.Blob), 0, _ => { });
        string files = Path.Combine(CacheDir, "files");
        using var materializer = new FileMaterializer(cache, files);
        var (start, count) = _image.Bootstrap.ChunkRefRange(_image.Bootstrap.LookupPath("/f0"));
        for (uint r = start; r < start + count; r++)
        {
            uint c = _image.Bootstrap.GetChunkRef(r).ChunkIndex;
            cache.Store(_image.Bootstrap.GetChunk(c).Digest, _image.ChunkBytes(c));
        }
        Directory.Delete(files, recursive: true); // the copy cannot be written (this used to throw out of OPEN)
        var fs = new RafsFileSystem(_image.Bootstrap, provider, materializer, TimeSpan.FromSeconds(30), NullLogger.Instance);
        uint ino = _image.Bootstrap.LookupPath("/f0");
        int result;
        try
        {
            result = fs.Open(ino, 0, passthroughAvailable: true, out var backing);
            Assert.Null(backing);
            Assert.Equal(count * InProcessImage.ChunkSize, cache.PinnedBytes);
        }
        catch (IOException)
        {
            result = -1;
        }
        if (result == 0)
            fs.Release(ino); // the kernel sends RELEASE only after an OPEN that succeeded
        Assert.Equal(0, cache.PinnedBytes);
        Assert.Equal(0, result); // and the open does succeed, without passthrough
    }

    public void Dispose() => _image.Dispose();
}
