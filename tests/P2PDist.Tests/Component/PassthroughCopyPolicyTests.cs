using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer.Cache;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// When the peer writes a whole copy of a file for FUSE passthrough: never on the path of an OPEN (the open is
/// served through FUSE and asks for a copy in the background), only of files of at least 1 MiB, only once every
/// chunk is cached, and a later open of the file gets the copy. A file read once is therefore written once.
/// </summary>
public sealed class PassthroughCopyPolicyTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    // Files of 20 x 64 KiB = 1.25 MiB, and of 2 x 64 KiB.
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 2, chunksPerFile: 20, seed: 1310);
    private readonly InProcessImage _smallImage = InProcessImage.Build(fileCount: 1, chunksPerFile: 2, seed: 1320);
    private readonly string _directory = TestPaths.NewDirectory("passthrough-policy");

    private static async Task ReadWholeAsync(RafsFileSystem fs, uint ino, int length)
    {
        var buffer = new byte[length];
        await Task.Run(() => Assert.Equal(length, fs.Read(ino, 0, buffer, CancellationToken.None))).WaitAsync(Bound);
    }

    [Fact]
    public async Task AnOpenNeverWaitsForACopy_ALaterOpenGetsTheBackgroundCopy_SmallFilesGetNone()
    {
        var cache = new ChunkCache(Path.Combine(_directory, "cache"));
        using var provider = new ChunkProvider(_image.Bootstrap, cache, new FakeOrigin(_image.Blob), 0, _ => { });
        using var materializer = new FileMaterializer(cache, Path.Combine(_directory, "files"));
        var fs = new RafsFileSystem(_image.Bootstrap, provider, materializer, TimeSpan.FromSeconds(30), NullLogger.Instance);
        uint large = _image.Bootstrap.LookupPath("/f1");
        int largeBytes = _image.Files[1].Length;
        Assert.True(largeBytes >= FileMaterializer.MinCopyBytes);

        // Cold: nothing cached at open, so no copy is asked for.
        Assert.Equal(0, fs.Open(large, 0, passthroughAvailable: true, out var backing));
        Assert.Null(backing);
        await ReadWholeAsync(fs, large, largeBytes);
        fs.Release(large);
        Assert.Equal(0, materializer.CopiesMade);

        // Every chunk cached now: this open is still plain FUSE (nothing written on its path) and asks for a copy.
        Assert.Equal(0, fs.Open(large, 0, passthroughAvailable: true, out backing));
        Assert.Null(backing);
        fs.Release(large);
        await Eventually.Async(() => Task.FromResult(materializer.CopiesMade), made => made == 1, Bound, "the background copy of /f1");

        // The next open is handed the copy, and the copy holds the file's bytes.
        Assert.Equal(0, fs.Open(large, 0, passthroughAvailable: true, out backing));
        Assert.NotNull(backing);
        using (backing)
        {
            var copy = new byte[largeBytes];
            Assert.Equal(largeBytes, RandomAccess.Read(backing, copy, 0));
            Assert.Equal(_image.Files[1], copy);
        }
        fs.Release(large);
        Assert.Equal(1, fs.PassthroughOpens);

        // A small file, however often opened and however cached, is never copied.
        using var smallProvider = new ChunkProvider(_smallImage.Bootstrap, cache, new FakeOrigin(_smallImage.Blob), 0, _ => { });
        var smallFs = new RafsFileSystem(_smallImage.Bootstrap, smallProvider, materializer, TimeSpan.FromSeconds(30), NullLogger.Instance);
        uint small = _smallImage.Bootstrap.LookupPath("/f0");
        await ReadWholeAsync(smallFs, small, _smallImage.Files[0].Length);
        for (int open = 0; open < 3; open++)
        {
            Assert.Equal(0, smallFs.Open(small, 0, passthroughAvailable: true, out backing));
            Assert.Null(backing);
            smallFs.Release(small);
        }
        Assert.Equal(1, materializer.CopiesMade);
    }

    [Fact]
    public async Task RequestsPastAFullQueue_AreRefusedNotLost_AndEveryFileGetsItsCopyWhenAskedAgain()
    {
        using var image = InProcessImage.Build(fileCount: 12, chunksPerFile: 16, seed: 1330); // 1 MiB files
        var cache = new ChunkCache(Path.Combine(_directory, "queue-cache"));
        using var materializer = new FileMaterializer(cache, Path.Combine(_directory, "queue-files"), queueLength: 2);
        var files = new List<List<P2PDist.Rafs.RafsChunk>>();
        for (int f = 0; f < image.Files.Length; f++)
        {
            var (start, count) = image.Bootstrap.ChunkRefRange(image.Bootstrap.LookupPath($"/f{f}"));
            var chunks = new List<P2PDist.Rafs.RafsChunk>();
            for (uint r = start; r < start + count; r++)
            {
                uint c = image.Bootstrap.GetChunkRef(r).ChunkIndex;
                cache.Store(image.Bootstrap.GetChunk(c).Digest, image.ChunkBytes(c));
                chunks.Add(image.Bootstrap.GetChunk(c));
            }
            files.Add(chunks);
        }
        ulong size = (ulong)image.Files[0].Length;
        int refused = files.Count(chunks => !materializer.RequestCopy(chunks, size)); // a burst: the queue holds 2
        // Opens keep asking for the files that have no copy yet (bounded): none may be stuck as "already asked for".
        await Eventually.Async(() =>
        {
            foreach (var chunks in files.Where(chunks => materializer.TryExisting(chunks, size) is null))
                materializer.RequestCopy(chunks, size);
            return Task.FromResult(files.All(chunks => materializer.TryExisting(chunks, size) is not null));
        }, Bound, $"a copy of every one of {files.Count} files ({refused} refused in the burst)");
        Assert.Equal(files.Count, materializer.CopiesMade); // each written once
        for (int f = 0; f < files.Count; f++)
            Assert.Equal(image.Files[f], File.ReadAllBytes(materializer.TryExisting(files[f], size)!));
    }

    public void Dispose()
    {
        _image.Dispose();
        _smallImage.Dispose();
    }
}
