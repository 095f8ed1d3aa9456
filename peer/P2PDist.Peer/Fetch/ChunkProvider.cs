using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using P2PDist.Peer.Cache;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Gives the verified bytes of a chunk of one image: from the cache, else fetched from a source, decompressed
/// and checked against its digest before it is cached or returned. A miss fetches the chunk together with as
/// many of the chunks that follow it in the same blob, and are missing too, as the reader's readahead asks
/// for (none for a random read), in one request of at most <c>mergeBytes</c>. Concurrent readers of a chunk share one fetch. A chunk that fails verification is
/// fetched once more on its own, then fails; wrong bytes never leave this class. Whatever a fetch throws,
/// its readers get the error and the next read fetches again (<see cref="InFlightChunks"/>).
/// </summary>
/// <remarks>
/// The provider lives as long as its mount: <see cref="Shutdown"/> ends every fetch and lease renewal and
/// refuses new ones, <see cref="DrainAsync"/> completes once none runs, and only then may the bootstrap go.
/// </remarks>
public sealed partial class ChunkProvider : IDisposable
{
    /// <summary>Open handles on cached chunks by chunk index: a cache hit is then one pread, with no allocation.</summary>
    private readonly FetchMetrics _metrics;
    private readonly ConcurrentDictionary<uint, SafeFileHandle> _handles = new();
    /// <summary>Which chunk index a kept handle belongs to, so the cache's eviction closes it (its disk space is freed).</summary>
    private readonly ConcurrentDictionary<ChunkDigest, uint> _keptByDigest = new();
    private const int MaxOpenHandles = 1024;

    /// <summary>
    /// A reader's miss also takes the missing chunks that follow it in the blob, past what its readahead asks,
    /// while they fit in this many (compressed) bytes: the small files of one directory sit side by side, and a
    /// start-up reads them one after another. Big chunks (the next part of a large file read at random) do not
    /// fit, so a random read of a library is not amplified. One request costs a registry about 5 ms here
    /// (bench/RESULTS.md, "Cold start"): 128 KiB merged 1,148 chunks of `import numpy` into 89 requests instead of 196.
    /// </summary>
    internal const int NeighbourBytes = 128 << 10;
    /// <summary>The node's single flight (shared by every mount): images that share chunks fetch each once.</summary>
    private readonly InFlightChunks _inFlight;
    /// <summary>The node's origin queue (shared by every mount): a reader's request goes before prefetch and background ones.</summary>
    private readonly FetchScheduler _scheduler;
    private readonly bool _ownsScheduler;
    private readonly ConcurrentDictionary<Task, byte> _fetches = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly object _gate = new();
    private bool _shutDown;
    private long _digestFailures, _hits, _misses;

    private readonly RafsBootstrap bootstrap;
    private readonly ChunkCache cache;
    private readonly IChunkSource source;
    private readonly int mergeBytes;
    private readonly Action<string> log;
    private readonly IPeerChunkSource? peers;
    private readonly TimeProvider time;

    /// <summary>The clock this provider's deadlines run on; its background fetchers wait on the same one.</summary>
    internal TimeProvider Time => time;

    /// <param name="time">The clock of the deadlines and the lease renewals (a fake one in tests).</param>
    /// <param name="inFlight">The node's single flight, shared with the other mounts; a provider of its own when null.</param>
    /// <param name="scheduler">The node's origin queue, shared with the other mounts; one of this provider's own when null.</param>
    public ChunkProvider(RafsBootstrap bootstrap, ChunkCache cache, IChunkSource source, int mergeBytes, Action<string> log,
        IPeerChunkSource? peers = null, TimeProvider? time = null, InFlightChunks? inFlight = null, FetchScheduler? scheduler = null,
        FetchMetrics? metrics = null)
    {
        _metrics = metrics ?? new FetchMetrics(MetricFactories.Detached());
        _inFlight = inFlight ?? new InFlightChunks();
        _ownsScheduler = scheduler is null;
        _scheduler = scheduler ?? new FetchScheduler(time: time);
        this.bootstrap = bootstrap;
        this.cache = cache;
        this.source = source;
        this.mergeBytes = mergeBytes;
        this.log = log;
        this.peers = peers;
        this.time = time ?? TimeProvider.System;
        cache.Evicted += CloseKeptHandle;
    }

    public long DigestFailures => Interlocked.Read(ref _digestFailures);

    /// <summary>The largest origin request (the peer's merge size): the ceiling of any readahead.</summary>
    public int MaxMergeBytes => mergeBytes;

    /// <summary>Chunk reads of this image served from the cache, and those that had to fetch (the cache's own counts are daemon-wide).</summary>
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Fetches running now (their single-flight entries).</summary>
    public int FetchesInFlight => _inFlight.Count;

    /// <summary>Copies the chunk's bytes from <paramref name="offsetInChunk"/> into <paramref name="destination"/>.</summary>
    /// <param name="readaheadBytes">On a miss, how many bytes of the missing chunks that follow in the blob to fetch in the same request.</param>
    public async ValueTask CopyAsync(uint chunkIndex, int offsetInChunk, Memory<byte> destination, int readaheadBytes, CancellationToken cancellationToken)
    {
        // Hot path: a chunk read before. Chunk files are immutable and were verified when opened; an evicted
        // chunk's handle is closed by the eviction, and a read that races it goes the slow way.
        if (_handles.TryGetValue(chunkIndex, out var kept) && TryReadKept(kept, destination.Span, offsetInChunk))
        {
            cache.CountHit();
            CountHit(destination.Length);
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
                else
                    _keptByDigest[chunk.Digest] = chunkIndex;
                if (TryReadKept(handle, destination.Span, offsetInChunk))
                {
                    cache.CountHit();
                    CountHit(destination.Length);
                    return;
                }
            }
        }
        else if (cache.TryRead(chunk.Digest, chunk.UncompressedSize, offsetInChunk, destination.Span))
        {
            CountHit(destination.Length); // TryRead counted the cache's own hit
            return;
        }
        Interlocked.Increment(ref _misses);
        byte[] plain = await FetchSharedAsync(chunkIndex, chunk, readaheadBytes, NeighbourBytes, FetchPriority.Reader, cancellationToken).ConfigureAwait(false);
        plain.AsSpan(offsetInChunk, destination.Length).CopyTo(destination.Span);
    }

    /// <summary>A read answered from the cache: this image's hit count and the node's cache-read bytes.</summary>
    private void CountHit(int bytes)
    {
        Interlocked.Increment(ref _hits);
        _metrics.CacheReadBytes.Inc(bytes);
    }

    private static bool TryReadKept(SafeFileHandle handle, Span<byte> destination, int offset)
    {
        try
        {
            return RandomAccess.Read(handle, destination, offset) == destination.Length;
        }
        catch (ObjectDisposedException)
        {
            return false; // evicted (and closed) between the lookup and the read
        }
    }

    private void CloseKeptHandle(ChunkDigest digest)
    {
        if (_keptByDigest.TryRemove(digest, out uint chunkIndex) && _handles.TryRemove(chunkIndex, out var handle))
            handle.Dispose(); // a read in progress holds a reference: the close waits for it
    }

    /// <summary>Keeps a chunk in the cache while a file using it is open (see <see cref="ChunkCache.Pin"/>).</summary>
    public void Pin(uint chunkIndex)
    {
        var chunk = bootstrap.GetChunk(chunkIndex);
        cache.Pin(chunk.Digest, chunk.UncompressedSize);
    }

    public void Unpin(uint chunkIndex) => cache.Unpin(bootstrap.GetChunk(chunkIndex).Digest);

    /// <summary>Makes sure a chunk is in the cache (prefetch), sharing any fetch already under way.</summary>
    /// <param name="followingBytes">
    /// How much of what follows in the blob the fetch may take along (up to the merge size): the rest of the
    /// file being prefetched, not the files after it, which nobody asked for.
    /// </param>
    public async Task WarmAsync(uint chunkIndex, int followingBytes, CancellationToken cancellationToken)
    {
        var chunk = bootstrap.GetChunk(chunkIndex);
        if (!cache.ContainsVerified(chunk.Digest))
            await FetchSharedAsync(chunkIndex, chunk, followingBytes, neighbourBytes: 0, FetchPriority.Prefetch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The chunk from the node's single flight: joins the fetch under way or begins one. A joined fetch that was
    /// cancelled belonged to another image's mount, which closed: this mount then fetches the chunk itself, once.
    /// </summary>
    private async Task<byte[]> FetchSharedAsync(uint chunkIndex, RafsChunk chunk, int followingBytes, int neighbourBytes, FetchPriority priority,
        CancellationToken cancellationToken, bool alone = false)
    {
        try
        {
            return await GetOrFetch(chunkIndex, chunk, followingBytes, neighbourBytes, priority, alone).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            return await GetOrFetch(chunkIndex, chunk, followingBytes, neighbourBytes, priority, alone).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Like <see cref="WarmAsync"/>, but an origin fetch takes just this chunk, no merged run: a swarm prefetch
    /// wants each chunk complete (and shareable) as soon as possible more than it wants fewer requests.
    /// </summary>
    public async Task WarmAloneAsync(uint chunkIndex, CancellationToken cancellationToken)
    {
        var chunk = bootstrap.GetChunk(chunkIndex);
        if (!cache.ContainsVerified(chunk.Digest))
            await FetchSharedAsync(chunkIndex, chunk, followingBytes: 0, neighbourBytes: 0, FetchPriority.Background, cancellationToken, alone: true).ConfigureAwait(false);
    }

    public bool IsCached(uint chunkIndex) => cache.Contains(bootstrap.GetChunk(chunkIndex).Digest);

    /// <summary>The swarm, when this image's chunks are exchanged with peers.</summary>
    public IPeerChunkSource? Swarm => peers;

    /// <summary>Chunks of this image in the cache now.</summary>
    public int CountCached() => Enumerable.Range(0, bootstrap.ChunkCount).Count(c => IsCached((uint)c));

    /// <param name="followingBytes">File bytes (uncompressed) of the following missing chunks an origin fetch takes along (the readahead).</param>
    /// <param name="neighbourBytes">Beyond those, the following chunks that fit in this many bytes (see <see cref="NeighbourBytes"/>).</param>
    /// <param name="alone">Fetch just this chunk from the origin, no merged run (see <see cref="WarmAloneAsync"/>).</param>
    /// <param name="priority">Who waits: a joiner more urgent than the fetch it joins raises that fetch's place in the origin queue.</param>
    private Task<byte[]> GetOrFetch(uint chunkIndex, RafsChunk chunk, int followingBytes, int neighbourBytes, FetchPriority priority, bool alone = false)
    {
        // The ticket is in the table before the fetch is in the single flight: a joiner always finds it to promote.
        var ticket = FetchScheduler.NewTicket(priority);
        bool tracked = _scheduler.TryTrack(chunk.Digest, ticket);
        var shared = _inFlight.JoinOrBegin(chunk.Digest, out var begun);
        if (begun is not null)
        {
            if (!tracked)
                _scheduler.Track(chunk.Digest, ticket); // the entry there was of a fetch that just ended
            RunTracked(() => FetchAsync(chunkIndex, chunk, begun, ticket, new RunShape(followingBytes, neighbourBytes), alone), chunk.Digest, begun, ticket);
        }
        else
        {
            if (tracked)
                _scheduler.Untrack(chunk.Digest, ticket);
            _scheduler.Promote(chunk.Digest, priority);
        }
        return shared;
    }

    /// <summary>Runs a fetch the drain waits for; after <see cref="Shutdown"/>, fails it at once instead.</summary>
    private void RunTracked(Func<Task> fetch, ChunkDigest digest, TaskCompletionSource<byte[]> done, FetchTicket ticket)
    {
        lock (_gate)
        {
            if (!_shutDown)
            {
                var running = fetch();
                _fetches.TryAdd(running, 0);
                running.ContinueWith(t => _fetches.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return;
            }
        }
        _scheduler.Untrack(digest, ticket);
        _inFlight.Fail(digest, done, new OperationCanceledException("the mount is closing", _lifetime.Token));
    }

    /// <summary>
    /// Fetch order after the cache: peers (one chunk, verified), then the origin (a merged run). Never throws:
    /// whatever goes wrong, <paramref name="done"/> ends with the error and leaves the single-flight table.
    /// </summary>
    /// <summary>
    /// How far an origin run may reach past its first chunk: the chunks that begin within <c>Cover</c> bytes of
    /// file data (uncompressed, as readers and prefetch count), then those whose stored bytes fit in <c>Fit</c> more.
    /// </summary>
    private readonly record struct RunShape(int Cover, int Fit);

    private async Task FetchAsync(uint chunkIndex, RafsChunk chunk, TaskCompletionSource<byte[]> done, FetchTicket ticket, RunShape shape, bool alone)
    {
        List<(uint Index, RafsChunk Chunk, TaskCompletionSource<byte[]> Done)> run = [(chunkIndex, chunk, done)];
        try
        {
            await Task.Yield(); // the reader that started the fetch awaits it like any other, outside the gate
            if (peers is not null && await FromPeersAsync(chunkIndex, chunk, alone).ConfigureAwait(false) is { } fromPeer)
            {
                StoreVerified(chunkIndex, chunk, fromPeer);
                _inFlight.Succeed(chunk.Digest, done, fromPeer);
                return;
            }
            var planned = alone ? [chunkIndex] : PlanRun(chunkIndex, shape);
            if (peers is not null && planned.Count > 1)
                planned = planned.Take(await ClaimAsync(planned).ConfigureAwait(false)).ToList();
            foreach (uint memberIndex in planned.Skip(1))
            {
                var member = bootstrap.GetChunk(memberIndex);
                // A reader joining this member promotes the whole run: tracked first, as for the lead chunk.
                bool tracked = _scheduler.TryTrack(member.Digest, ticket);
                if (_inFlight.TryBegin(member.Digest) is not { } next)
                {
                    if (tracked)
                        _scheduler.Untrack(member.Digest, ticket);
                    break; // keep the run contiguous
                }
                if (!tracked)
                    _scheduler.Track(member.Digest, ticket);
                run.Add((memberIndex, member, next));
            }
            await FetchRunAsync(run, ticket).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The guard of review H4: anything unexpected fails this fetch, never the chunk for good.
            log($"fetch of chunk {chunk.Digest} failed: {e.GetType().Name}: {e.Message}");
            foreach (var (_, member, memberDone) in run)
                _inFlight.Fail(member.Digest, memberDone, e);
        }
        finally
        {
            foreach (var (_, member, _) in run)
                _scheduler.Untrack(member.Digest, ticket);
        }
    }

    /// <summary>
    /// The chunk's verified bytes from a peer, or null: then the origin. Anything the peer phase throws, a
    /// deadline (<see cref="PeerFetchBudget"/>) that fires, or bytes that fail verification mean "no peer".
    /// </summary>
    private async Task<byte[]?> FromPeersAsync(uint chunkIndex, RafsChunk chunk, bool background)
    {
        using var budget = new CancellationTokenSource(PeerFetchBudget.For(chunk.UncompressedSize, background), time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _lifetime.Token);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        PeerChunk? sent;
        try
        {
            // WaitAsync: a source that ignores its token still cannot hold the fetch past the deadline.
            sent = await peers!.TryFetchAsync(chunkIndex, chunk, background, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!_lifetime.IsCancellationRequested)
        {
            string why = budget.IsCancellationRequested ? $"no peer delivered within {PeerFetchBudget.For(chunk.UncompressedSize, background).TotalSeconds:0} s" : $"{e.GetType().Name}: {e.Message}";
            log($"peers could not give chunk {chunk.Digest} ({why}); fetching it from the origin");
            return null;
        }
        if (sent is not { Bytes: var fromPeer })
            return null;
        if (ChunkVerifier.CheckPlain(chunk, fromPeer, $"peer {sent.Sender}") is { } failure)
        {
            Interlocked.Increment(ref _digestFailures);
            _metrics.DigestFailures.WithLabels("peer").Inc();
            log($"{failure.Message}; fetching it from the origin");
            peers!.Rejected(chunkIndex, sent.Sender, failure.Message);
            return null;
        }
        _metrics.FetchedBytes.WithLabels("peer").Inc(fromPeer.Length);
        _metrics.FetchedChunks.WithLabels("peer").Inc();
        _metrics.ChunkFetchSeconds.WithLabels("peer").Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        peers!.Accepted(chunkIndex);
        return fromPeer;
    }

    private void StoreVerified(uint chunkIndex, RafsChunk chunk, byte[] plain)
    {
        cache.Store(chunk.Digest, plain, log);
        peers?.Stored(chunkIndex);
    }

    /// <summary>
    /// The mount is closing: cancels every fetch and lease renewal and refuses new fetches (their readers get
    /// an error at once). Kept handles stay, so cached reads still work until <see cref="Dispose"/>.
    /// </summary>
    public void Shutdown()
    {
        lock (_gate)
            _shutDown = true;
        _lifetime.Cancel();
    }

    /// <summary>Completes when no fetch runs any more (after <see cref="Shutdown"/>, none starts): then nothing here touches the bootstrap.</summary>
    public Task DrainAsync()
    {
        Shutdown();
        return Task.WhenAll(_fetches.Keys);
    }

    public void Dispose()
    {
        Shutdown();
        if (_ownsScheduler)
            _scheduler.Dispose();
        cache.Evicted -= CloseKeptHandle;
        foreach (var handle in _handles.Values)
            handle.Dispose();
        _handles.Clear();
        _keptByDigest.Clear();
    }
}
