using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer.Cache;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fetch;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// The fetch policy of the read path, in-process through the file system and a counting origin: a random
/// read fetches what it touches and the small chunks that follow (never a large window: the cold-start
/// issue's amplification), a streamed file is fetched in ever larger requests, and both return the file's bytes.
/// </summary>
public sealed class ReadaheadFetchTests : IDisposable
{
    private const int ChunksPerFile = 16;
    private static readonly int Chunk = (int)InProcessImage.ChunkSize;
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 2, chunksPerFile: ChunksPerFile, seed: 900);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("readahead"));
    private readonly FakeOrigin _origin;
    private readonly ChunkProvider _provider;
    private readonly RafsFileSystem _fs;

    public ReadaheadFetchTests()
    {
        _origin = new FakeOrigin(_image.Blob);
        // A merge size that would take the whole file at once: only the readahead may use it.
        _provider = new ChunkProvider(_image.Bootstrap, _cache, _origin, ChunksPerFile * Chunk, _ => { });
        _fs = new RafsFileSystem(_image.Bootstrap, _provider, null, TimeSpan.FromSeconds(30), NullLogger.Instance);
    }

    private byte[] Read(string path, long offset, int length)
    {
        var buffer = new byte[length];
        int read = _fs.Read(_image.Bootstrap.LookupPath(path), (ulong)offset, buffer, CancellationToken.None);
        Assert.Equal(length, read);
        return buffer;
    }

    /// <summary>Chunks cached once every fetch has ended: a read returns when its own chunks are in, the rest of its run a moment later.</summary>
    private int CachedChunks()
    {
        Assert.True(SpinWait.SpinUntil(() => _provider.FetchesInFlight == 0, TimeSpan.FromSeconds(20)), "fetches still running after 20 s");
        return _provider.CountCached();
    }

    /// <summary>Chunks of this image are 64 KiB, stored as they are: two of them fit in the neighbour allowance.</summary>
    private static readonly int Neighbours = ChunkProvider.NeighbourBytes / Chunk;

    [Fact]
    public void ARandomRead_FetchesItsChunk_AndOnlyTheFollowingChunksThatFitInTheNeighbourAllowance()
    {
        Assert.Equal(2, Neighbours);
        var bytes = Read("/f0", 5L * Chunk + 100, 4096);
        Assert.Equal(_image.Files[0].AsSpan(5 * Chunk + 100, 4096).ToArray(), bytes);
        Assert.Equal((1, 1 + Neighbours), (_origin.Calls, CachedChunks()));
        Assert.False(_provider.IsCached(8), "a random read is never widened past the allowance");
        Read("/f0", 15L * Chunk, 4096); // the file's last chunk: its neighbours are the next file's first chunks
        Assert.Equal((2, 2 * (1 + Neighbours)), (_origin.Calls, CachedChunks()));
        Assert.True(_provider.IsCached(16) && _provider.IsCached(17));
    }

    [Fact]
    public void AReadAcrossChunks_FetchesThemInOneRequest()
    {
        // Chunks 2, 3 and 4 of f1 (the read's own), then the following chunks that fit in the allowance.
        var bytes = Read("/f1", 2L * Chunk + 10, 2 * Chunk);
        Assert.Equal(_image.Files[1].AsSpan(2 * Chunk + 10, 2 * Chunk).ToArray(), bytes);
        Assert.Equal((1, 3 + Neighbours), (_origin.Calls, CachedChunks()));
    }

    [Fact]
    public void AStreamedFile_IsFetchedInGrowingRequests_AndReadsRight()
    {
        const int ReadSize = 32 * 1024; // smaller than a chunk, like the kernel's requests
        var whole = new byte[ChunksPerFile * Chunk];
        for (int at = 0; at < whole.Length; at += ReadSize)
            Read("/f0", at, ReadSize).CopyTo(whole, at);
        Assert.Equal(_image.Files[0], whole);
        // One chunk (and neighbours), then the window doubles from 128 KiB until it covers the rest of the file.
        Assert.True(_origin.Calls <= 4, $"{_origin.Calls} origin requests for a {ChunksPerFile}-chunk file read in sequence");
        Assert.InRange(CachedChunks(), ChunksPerFile, ChunksPerFile + Neighbours); // the readahead itself stops at the file's end
    }

    public void Dispose()
    {
        _provider.Dispose();
        _image.Dispose();
    }
}
