using System.Collections.Concurrent;
using P2PDist.Peer.Cache;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Gives the verified bytes of a chunk of one image: from the cache, else fetched from a source, decompressed
/// and checked against its digest before it is cached or returned. A miss fetches the chunk together with the
/// chunks that follow it in the same blob and are missing too, in one request of at most
/// <c>mergeBytes</c>. Concurrent readers of a chunk share one fetch. A chunk that fails verification is
/// fetched once more on its own, then fails; wrong bytes never leave this class.
/// </summary>
public sealed class ChunkProvider(RafsBootstrap bootstrap, ChunkCache cache, IChunkSource source, int mergeBytes, Action<string> log,
    IPeerChunkSource? peers = null) : IDisposable
{
    /// <summary>Open handles on cached chunks by chunk index: a cache hit is then one pread, with no allocation.</summary>
    private readonly ConcurrentDictionary<uint, Microsoft.Win32.SafeHandles.SafeFileHandle> _handles = new();
    private const int MaxOpenHandles = 1024;
    private readonly ConcurrentDictionary<ChunkDigest, Task<byte[]>> _inFlight = new();
    private long _digestFailures, _hits, _misses;

    public long DigestFailures => Interlocked.Read(ref _digestFailures);

    /// <summary>Chunk reads of this image served from the cache, and those that had to fetch (the cache's own counts are daemon-wide).</summary>
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Copies the chunk's bytes from <paramref name="offsetInChunk"/> into <paramref name="destination"/>.</summary>
    public async ValueTask CopyAsync(uint chunkIndex, int offsetInChunk, Memory<byte> destination, CancellationToken cancellationToken)
    {
        // Hot path: a chunk read before. Chunk files are immutable, so a kept handle stays right even if the
        // cache evicts the file (the data lives until the handle closes).
        if (_handles.TryGetValue(chunkIndex, out var kept) && RandomAccess.Read(kept, destination.Span, offsetInChunk) == destination.Length)
        {
            cache.CountHit();
            Interlocked.Increment(ref _hits);
            return;
        }
        var chunk = bootstrap.GetChunk(chunkIndex);
        if (_handles.Count < MaxOpenHandles)
        {
            // One open both tests the cache and keeps the handle for the next reads (a miss is counted by TryOpen).
            if (cache.TryOpen(chunk.Digest, chunk.UncompressedSize) is { } opened)
            {
                var handle = _handles.GetOrAdd(chunkIndex, opened);
                if (!ReferenceEquals(handle, opened))
                    opened.Dispose();
                if (RandomAccess.Read(handle, destination.Span, offsetInChunk) == destination.Length)
                {
                    cache.CountHit();
                    Interlocked.Increment(ref _hits);
                    return;
                }
            }
        }
        else if (cache.TryRead(chunk.Digest, chunk.UncompressedSize, offsetInChunk, destination.Span))
        {
            Interlocked.Increment(ref _hits);
            return;
        }
        Interlocked.Increment(ref _misses);
        byte[] plain = await GetOrFetch(chunkIndex).WaitAsync(cancellationToken).ConfigureAwait(false);
        plain.AsSpan(offsetInChunk, destination.Length).CopyTo(destination.Span);
    }

    /// <summary>Keeps a chunk in the cache while a file using it is open (see <see cref="ChunkCache.Pin"/>).</summary>
    public void Pin(uint chunkIndex) => cache.Pin(bootstrap.GetChunk(chunkIndex).Digest);

    public void Unpin(uint chunkIndex) => cache.Unpin(bootstrap.GetChunk(chunkIndex).Digest);

    /// <summary>Makes sure a chunk is in the cache (prefetch), sharing any fetch already under way.</summary>
    public async Task WarmAsync(uint chunkIndex, CancellationToken cancellationToken)
    {
        if (!cache.Contains(bootstrap.GetChunk(chunkIndex).Digest))
            await GetOrFetch(chunkIndex).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Like <see cref="WarmAsync"/>, but an origin fetch takes just this chunk, no merged run: a swarm prefetch
    /// wants each chunk complete (and shareable) as soon as possible more than it wants fewer requests.
    /// </summary>
    public async Task WarmAloneAsync(uint chunkIndex, CancellationToken cancellationToken)
    {
        if (!cache.Contains(bootstrap.GetChunk(chunkIndex).Digest))
            await GetOrFetch(chunkIndex, alone: true).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public bool IsCached(uint chunkIndex) => cache.Contains(bootstrap.GetChunk(chunkIndex).Digest);

    /// <summary>The swarm, when this image's chunks are exchanged with peers.</summary>
    public IPeerChunkSource? Swarm => peers;

    /// <summary>Chunks of this image in the cache now.</summary>
    public int CountCached() => Enumerable.Range(0, bootstrap.ChunkCount).Count(c => IsCached((uint)c));

    /// <param name="alone">Fetch just this chunk from the origin, no merged run (see <see cref="WarmAloneAsync"/>).</param>
    private Task<byte[]> GetOrFetch(uint chunkIndex, bool alone = false)
    {
        var chunk = bootstrap.GetChunk(chunkIndex);
        if (_inFlight.TryGetValue(chunk.Digest, out var running))
            return running;
        var done = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_inFlight.TryAdd(chunk.Digest, done.Task))
            return _inFlight.TryGetValue(chunk.Digest, out var winner) ? winner : GetOrFetch(chunkIndex, alone); // another reader won the race
        _ = FetchAsync(chunkIndex, chunk, done, alone);
        return done.Task;
    }

    /// <summary>Fetch order after the cache: peers (one chunk, verified), then the origin (a merged run).</summary>
    private async Task FetchAsync(uint chunkIndex, RafsChunk chunk, TaskCompletionSource<byte[]> done, bool alone)
    {
        if (peers is not null)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var sent = await peers.TryFetchAsync(chunkIndex, chunk, background: alone, deadline.Token).ConfigureAwait(false);
            if (sent is { Bytes: var fromPeer })
            {
                var actual = ChunkDigest.Compute(chunk.Digest.Algorithm, fromPeer);
                if (chunk.Digest.Matches(actual.Bytes))
                {
                    PeerMetrics.FetchedBytes.WithLabels("peer").Inc(fromPeer.Length);
                    PeerMetrics.FetchedChunks.WithLabels("peer").Inc();
                    PeerMetrics.ChunkFetchSeconds.WithLabels("peer").Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                    peers.Accepted(chunkIndex);
                    cache.Store(chunk.Digest, fromPeer, log);
                    peers.Stored(chunkIndex);
                    _inFlight.TryRemove(new KeyValuePair<ChunkDigest, Task<byte[]>>(chunk.Digest, done.Task));
                    done.TrySetResult(fromPeer);
                    return;
                }
                Interlocked.Increment(ref _digestFailures);
                PeerMetrics.DigestFailures.WithLabels("peer").Inc();
                peers.Rejected(chunkIndex, sent.Sender, new ChunkDigestMismatchException(chunk.Digest, actual, $"peer {sent.Sender}").Message);
            }
        }
        var planned = alone ? [chunkIndex] : PlanRun(chunkIndex);
        if (peers is not null && planned.Count > 1)
        {
            // The swarm fetches each chunk from the origin once: keep only the part of the run granted to us.
            using var claim = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                planned = planned.Take(await peers.ClaimRunAsync(planned, claim.Token).ConfigureAwait(false)).ToList();
            }
            catch (Exception e) when (e is OperationCanceledException or Grpc.Core.RpcException)
            {
                planned = planned.Take(1).ToList();
            }
        }
        var run = new List<(uint Index, RafsChunk Chunk, TaskCompletionSource<byte[]> Done)> { (chunkIndex, chunk, done) };
        foreach (uint memberIndex in planned.Skip(1))
        {
            var member = bootstrap.GetChunk(memberIndex);
            var next = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_inFlight.TryAdd(member.Digest, next.Task))
                break; // keep the run contiguous
            run.Add((memberIndex, member, next));
        }
        await FetchRunAsync(run).ConfigureAwait(false);
    }

    /// <summary>The chunk, then each following chunk that sits right after it in the same blob and is neither cached nor being fetched.</summary>
    private List<uint> PlanRun(uint chunkIndex)
    {
        var first = bootstrap.GetChunk(chunkIndex);
        var run = new List<uint> { chunkIndex };
        long total = first.CompressedSize;
        ulong end = first.CompressedOffset + first.CompressedSize;
        for (uint next = chunkIndex + 1; next < bootstrap.ChunkCount; next++)
        {
            var candidate = bootstrap.GetChunk(next);
            if (candidate.BlobIndex != first.BlobIndex || candidate.CompressedOffset != end || total + candidate.CompressedSize > mergeBytes
                || _inFlight.ContainsKey(candidate.Digest) || cache.Contains(candidate.Digest))
                break;
            run.Add(next);
            total += candidate.CompressedSize;
            end += candidate.CompressedSize;
        }
        return run;
    }

    private async Task FetchRunAsync(List<(uint Index, RafsChunk Chunk, TaskCompletionSource<byte[]> Done)> run)
    {
        if (run.Count == 0)
            return;
        // Not cancelled by one reader's interrupt: other readers may wait on the same fetch. Bounded instead.
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var blob = bootstrap.GetBlob(run[0].Chunk.BlobIndex);
        byte[]? bytes = null;
        Exception? failure = null;
        using var fetching = new CancellationTokenSource();
        var renewing = peers is null ? Task.CompletedTask : RenewClaimAsync(run.Select(r => r.Index).ToList(), fetching.Token);
        try
        {
            ulong start = run[0].Chunk.CompressedOffset;
            int length = (int)(run[^1].Chunk.CompressedOffset + run[^1].Chunk.CompressedSize - start);
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            bytes = await source.ReadAsync(blob, start, length, deadline.Token).ConfigureAwait(false);
            PeerMetrics.ChunkFetchSeconds.WithLabels("origin").Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            PeerMetrics.FetchedBytes.WithLabels("origin").Inc(length);
            PeerMetrics.FetchedChunks.WithLabels("origin").Inc(run.Count);
        }
        catch (Exception e)
        {
            failure = e;
        }
        fetching.Cancel();
        await renewing.ConfigureAwait(false);
        foreach (var (index, chunk, done) in run)
        {
            try
            {
                if (failure is not null)
                    throw failure;
                int at = (int)(chunk.CompressedOffset - run[0].Chunk.CompressedOffset);
                byte[] plain = await VerifiedAsync(blob, chunk, bytes!.AsMemory(at, (int)chunk.CompressedSize), deadline.Token).ConfigureAwait(false);
                cache.Store(chunk.Digest, plain, log);
                peers?.Stored(index);
                done.TrySetResult(plain);
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<ChunkDigest, Task<byte[]>>(chunk.Digest, done.Task));
            }
        }
    }

    /// <summary>
    /// While an origin fetch runs, re-claims its chunks every 2 s: the supernode's election lease (5 s) then
    /// lasts as long as the fetch is alive, however slow, and runs out only when this peer stops (dies).
    /// </summary>
    private async Task RenewClaimAsync(List<uint> chunkIndices, CancellationToken fetching)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), fetching).ConfigureAwait(false);
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(fetching);
                deadline.CancelAfter(TimeSpan.FromSeconds(5));
                await peers!.ClaimRunAsync(chunkIndices, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or Grpc.Core.RpcException)
        {
            // The fetch ended (or the supernode is away: its next lease goes to whoever asks).
        }
    }

    /// <summary>Decompresses and checks a chunk; on a mismatch fetches it alone once more before giving up.</summary>
    private async Task<byte[]> VerifiedAsync(RafsBlob blob, RafsChunk chunk, ReadOnlyMemory<byte> compressed, CancellationToken cancellationToken)
    {
        using var codec = new ChunkCodec();
        for (int attempt = 1; ; attempt++)
        {
            var plain = new byte[chunk.UncompressedSize];
            string where = $"chunk {chunk.Digest} (blob {blob.Digest} bytes {chunk.CompressedOffset}+{chunk.CompressedSize}) from {source.Name}";
            try
            {
                if (compressed.Length != chunk.CompressedSize)
                    throw new P2PDistException($"{where}: got {compressed.Length} bytes");
                codec.Decompress(chunk.Compression, compressed.Span, plain, where);
                var actual = ChunkDigest.Compute(chunk.Digest.Algorithm, plain);
                if (!chunk.Digest.Matches(actual.Bytes))
                    throw new ChunkDigestMismatchException(chunk.Digest, actual, source.Name);
                return plain;
            }
            catch (P2PDistException e)
            {
                Interlocked.Increment(ref _digestFailures);
                PeerMetrics.DigestFailures.WithLabels("origin").Inc();
                log($"verification failed (attempt {attempt}): {e.Message}");
                if (attempt >= 2)
                    throw;
            }
            compressed = await source.ReadAsync(blob, chunk.CompressedOffset, (int)chunk.CompressedSize, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var handle in _handles.Values)
            handle.Dispose();
        _handles.Clear();
    }
}
