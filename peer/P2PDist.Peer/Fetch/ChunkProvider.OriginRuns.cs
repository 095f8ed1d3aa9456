using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

// The origin side of a miss: which following chunks one ranged request takes along (PlanRun), how many of
// them the swarm lets this peer fetch (ClaimAsync, RenewClaimAsync), the request itself through the node's
// origin queue (FetchRunAsync, ReadAdmittedAsync), and the check of each chunk it brought (VerifiedAsync).
public sealed partial class ChunkProvider
{
    /// <summary>How many chunks of the run, from the first, this peer may fetch from the origin (the swarm fetches each once). At least the first.</summary>
    private async Task<int> ClaimAsync(List<uint> planned)
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _lifetime.Token);
        try
        {
            return Math.Max(1, await peers!.ClaimRunAsync(planned, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false));
        }
        catch (Exception e) when (!_lifetime.IsCancellationRequested)
        {
            log($"claiming chunks from {bootstrap.GetChunk(planned[0]).Digest} failed ({e.GetType().Name}: {e.Message}); fetching the first alone");
            return 1;
        }
    }

    /// <summary>
    /// The chunk, then each following chunk that sits right after it in the same blob and is neither cached nor
    /// being fetched: those that begin within the shape's cover (taken whole), then those that fit within its fit,
    /// as long as the whole run stays within the merge size.
    /// </summary>
    private List<uint> PlanRun(uint chunkIndex, RunShape shape)
    {
        var first = bootstrap.GetChunk(chunkIndex);
        var run = new List<uint> { chunkIndex };
        long coveredPlain = 0, fitted = 0;
        long total = first.CompressedSize;
        ulong end = first.CompressedOffset + first.CompressedSize;
        for (uint next = chunkIndex + 1; next < bootstrap.ChunkCount; next++)
        {
            var candidate = bootstrap.GetChunk(next);
            bool inCover = coveredPlain < shape.Cover;
            if (!(inCover || fitted + candidate.CompressedSize <= shape.Fit)
                || candidate.BlobIndex != first.BlobIndex || candidate.CompressedOffset != end || total + candidate.CompressedSize > mergeBytes
                || _inFlight.Contains(candidate.Digest) || cache.Contains(candidate.Digest))
                break;
            run.Add(next);
            if (inCover)
                coveredPlain += candidate.UncompressedSize;
            else
                fitted += candidate.CompressedSize;
            total += candidate.CompressedSize;
            end += candidate.CompressedSize;
        }
        return run;
    }

    private async Task FetchRunAsync(List<(uint Index, RafsChunk Chunk, TaskCompletionSource<byte[]> Done)> run, FetchTicket ticket)
    {
        // Not cancelled by one reader's interrupt: other readers may wait on the same fetch. Bounded instead,
        // and ended with the mount.
        using var budget = new CancellationTokenSource(TimeSpan.FromMinutes(2), time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _lifetime.Token);
        var blob = bootstrap.GetBlob(run[0].Chunk.BlobIndex);
        byte[]? bytes = null;
        Exception? failure = null;
        using var fetching = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        var renewing = peers is null ? Task.CompletedTask : RenewClaimAsync(run.Select(r => r.Index).ToList(), fetching.Token);
        try
        {
            ulong start = run[0].Chunk.CompressedOffset;
            int length = (int)(run[^1].Chunk.CompressedOffset + run[^1].Chunk.CompressedSize - start);
            bytes = await ReadAdmittedAsync(blob, start, length, ticket, deadline.Token).ConfigureAwait(false);
            _metrics.FetchedBytes.WithLabels("origin").Inc(length);
            _metrics.FetchedChunks.WithLabels("origin").Inc(run.Count);
        }
        catch (Exception e)
        {
            failure = e;
        }
        fetching.Cancel();
        await renewing.ConfigureAwait(false);
        using var codec = new ChunkCodec();
        foreach (var (index, chunk, done) in run)
        {
            try
            {
                if (failure is not null)
                    throw failure;
                int at = (int)(chunk.CompressedOffset - run[0].Chunk.CompressedOffset);
                byte[] plain = await VerifiedAsync(blob, chunk, bytes!.AsMemory(at, (int)chunk.CompressedSize), codec, ticket, deadline.Token).ConfigureAwait(false);
                StoreVerified(index, chunk, plain);
                _inFlight.Succeed(chunk.Digest, done, plain);
            }
            catch (Exception e)
            {
                _inFlight.Fail(chunk.Digest, done, e);
            }
        }
    }

    /// <summary>
    /// While an origin fetch runs, re-claims its chunks every lease renewal (2 s of a 5 s lease by default): the supernode's election lease then
    /// lasts as long as the fetch is alive, however slow, and runs out only when this peer stops (dies).
    /// </summary>
    private async Task RenewClaimAsync(List<uint> chunkIndices, CancellationToken fetching)
    {
        while (!fetching.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(peers!.LeaseRenewal, time, fetching).ConfigureAwait(false);
                using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, fetching);
                await peers!.ClaimRunAsync(chunkIndices, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (fetching.IsCancellationRequested)
            {
                return; // the fetch ended
            }
            catch (Exception e)
            {
                // The supernode is away or refused: its next lease goes to whoever asks; the fetch goes on.
                log($"renewing the origin claim of chunk {bootstrap.GetChunk(chunkIndices[0]).Digest} failed: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Decompresses and checks a chunk; on a mismatch fetches it alone once more before giving up.</summary>
    private async Task<byte[]> VerifiedAsync(RafsBlob blob, RafsChunk chunk, ReadOnlyMemory<byte> compressed, ChunkCodec codec, FetchTicket ticket,
        CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return ChunkVerifier.FromCompressed(chunk, blob, compressed.Span, codec, source.Name);
            }
            catch (P2PDistException e)
            {
                Interlocked.Increment(ref _digestFailures);
                _metrics.DigestFailures.WithLabels("origin").Inc();
                log($"verification failed (attempt {attempt}): {e.Message}");
                if (attempt >= 2)
                    throw;
            }
            compressed = await ReadAdmittedAsync(blob, chunk.CompressedOffset, (int)chunk.CompressedSize, ticket, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One origin request, once the node's origin queue admits it at the fetch's priority; the slot is held only while the bytes arrive.</summary>
    private async Task<byte[]> ReadAdmittedAsync(RafsBlob blob, ulong offset, int length, FetchTicket ticket, CancellationToken cancellationToken)
    {
        long queued = System.Diagnostics.Stopwatch.GetTimestamp();
        using var slot = await _scheduler.AdmitAsync(ticket, cancellationToken).ConfigureAwait(false);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        _metrics.OriginQueueSeconds.WithLabels(FetchMetrics.PriorityLabel(slot.AdmittedAs)).Observe(System.Diagnostics.Stopwatch.GetElapsedTime(queued, started).TotalSeconds);
        var bytes = await source.ReadAsync(blob, offset, length, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        _metrics.ChunkFetchSeconds.WithLabels("origin").Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        return bytes;
    }
}
