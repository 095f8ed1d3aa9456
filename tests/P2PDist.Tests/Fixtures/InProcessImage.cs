using P2PDist.Peer.Fetch;
using P2PDist.Rafs;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A small image built in memory for in-process component tests: files of random bytes cut into uncompressed
/// chunks of one blob, its bootstrap, and the blob's bytes, all consistent by construction (no hand-written digest).
/// </summary>
public sealed class InProcessImage : IDisposable
{
    public const uint ChunkSize = 64 * 1024;

    private InProcessImage(RafsBootstrap bootstrap, byte[] blob, byte[][] files)
    {
        Bootstrap = bootstrap;
        Blob = blob;
        Files = files;
    }

    public RafsBootstrap Bootstrap { get; }

    /// <summary>The one blob: every chunk, in chunk-index order, stored as is.</summary>
    public byte[] Blob { get; }

    /// <summary>File i is at /f{i}.</summary>
    public byte[][] Files { get; }

    /// <summary>Files of <paramref name="chunksPerFile"/> chunks each, every chunk distinct.</summary>
    /// <param name="prefetchPaths">The image's prefetch table.</param>
    public static InProcessImage Build(int fileCount, int chunksPerFile, int seed, IReadOnlyList<string>? prefetchPaths = null)
    {
        var files = Enumerable.Range(0, fileCount).Select(i => SampleImages.Bytes((int)ChunkSize * chunksPerFile, seed + i)).ToArray();
        var table = new ChunkTableBuilder();
        int blob = table.AddBlob(new RafsBlob("sha256:" + new string('b', 64), ChunkSize * (ulong)(fileCount * chunksPerFile), (uint)(fileCount * chunksPerFile)));
        var root = TreeNode.NewDirectory();
        var blobBytes = new MemoryStream();
        for (int f = 0; f < fileCount; f++)
        {
            var file = new TreeNode(PosixMode.Regular | 0x1A4) { Size = (ulong)files[f].Length };
            for (int c = 0; c < chunksPerFile; c++)
            {
                var slice = files[f].AsSpan(c * (int)ChunkSize, (int)ChunkSize);
                var digest = ChunkDigest.Compute(DigestAlgorithm.Blake3, slice);
                file.Chunks.Add(table.Add(new RafsChunk((uint)blob, ChunkCompression.None, (ulong)blobBytes.Length, ChunkSize, ChunkSize, digest)));
                blobBytes.Write(slice);
            }
            root.Children![$"f{f}"] = file;
        }
        var bootstrap = RafsBootstrap.FromBytes(new BootstrapWriter(DigestAlgorithm.Blake3, ChunkSize).Write(root, table, prefetchPaths ?? []));
        return new InProcessImage(bootstrap, blobBytes.ToArray(), files);
    }

    /// <summary>Bytes of chunk <paramref name="chunkIndex"/> (its index in the chunk table).</summary>
    public byte[] ChunkBytes(uint chunkIndex) => Blob.AsSpan((int)(chunkIndex * ChunkSize), (int)ChunkSize).ToArray();

    public void Dispose() => Bootstrap.Dispose();
}

/// <summary>The origin in memory: serves <see cref="InProcessImage.Blob"/> ranges; a test sets <see cref="Fault"/> to make calls throw or wait.</summary>
public sealed class FakeOrigin(byte[] blob) : IChunkSource
{
    private int _calls;

    public string Name => "fake origin";

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Runs before each call with the call's number (1-based); may throw, or wait.</summary>
    public Func<int, CancellationToken, Task>? Fault { get; set; }

    /// <summary>The offset of every call, in the order the calls arrived.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<ulong> Offsets { get; } = new();

    public async Task<byte[]> ReadAsync(RafsBlob blob1, ulong offset, int length, CancellationToken cancellationToken)
    {
        int call = Interlocked.Increment(ref _calls);
        Offsets.Enqueue(offset);
        if (Fault is { } fault)
            await fault(call, cancellationToken);
        return blob.AsSpan((int)offset, length).ToArray();
    }
}

/// <summary>The swarm as a fake: each behaviour is a delegate a test sets; by default nobody holds anything.</summary>
public sealed class FakePeers : IPeerChunkSource
{
    private int _fetchCalls;
    public int FetchCalls => Volatile.Read(ref _fetchCalls);
    public List<string> Rejections { get; } = [];
    public int ClaimCalls;
    public int StoredCalls;

    public Func<uint, RafsChunk, CancellationToken, Task<PeerChunk?>> Fetch { get; set; } = (_, _, _) => Task.FromResult<PeerChunk?>(null);
    public Func<IReadOnlyList<uint>, CancellationToken, Task<int>> Claim { get; set; } = (chunks, _) => Task.FromResult(chunks.Count);
    public Action<uint> OnStored { get; set; } = _ => { };

    public Task<PeerChunk?> TryFetchAsync(uint chunkIndex, RafsChunk chunk, bool background, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _fetchCalls);
        return Fetch(chunkIndex, chunk, cancellationToken);
    }

    public Task<IReadOnlyList<(SwarmProbe State, int Holders)>> ProbeManyAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<(SwarmProbe, int)>>(chunkIndices.Select(_ => (SwarmProbe.NoScheduler, 0)).ToList());

    public Task<int> ClaimRunAsync(IReadOnlyList<uint> chunkIndices, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref ClaimCalls);
        return Claim(chunkIndices, cancellationToken);
    }

    public void Accepted(uint chunkIndex) { }

    public void Stored(uint chunkIndex)
    {
        Interlocked.Increment(ref StoredCalls);
        OnStored(chunkIndex);
    }

    public void Rejected(uint chunkIndex, string sender, string reason)
    {
        lock (Rejections)
            Rejections.Add(reason);
    }
}
