using Microsoft.Extensions.Logging;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Warms the chunk cache when a mount starts: first the files of the image's prefetch table (directories
/// expand to every file under them), in table order, <see cref="TableConcurrency"/> files at a time beside
/// the readers' own (which never wait for it: a chunk both want is one fetch); then, when asked, every other
/// chunk of the image (see <see cref="WholeImageWarmer"/>).
/// </summary>
internal sealed class Prefetcher : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    private readonly PrefetchProgress _progress;

    private Prefetcher(RafsBootstrap bootstrap, ChunkProvider provider, bool wholeImage, int concurrency, ILogger log, PrefetchProgress progress)
    {
        _progress = progress;
        Completion = Task.Run(() => RunAsync(bootstrap, provider, wholeImage, concurrency, log, progress, _stop.Token));
    }

    public Task Completion { get; }

    /// <summary>What the prefetch planned and has made present so far (chunks).</summary>
    public PrefetchProgress Progress => _progress;

    /// <param name="progress">Where the progress is counted (the image's series); the prefetcher disposes it.</param>
    public static Prefetcher Start(RafsBootstrap bootstrap, ChunkProvider provider, bool wholeImage, int concurrency, ILogger log,
        PrefetchProgress? progress = null) =>
        new(bootstrap, provider, wholeImage, concurrency, log, progress ?? PrefetchProgress.Unobserved());

    private static async Task RunAsync(RafsBootstrap bootstrap, ChunkProvider provider, bool wholeImage, int concurrency, ILogger log,
        PrefetchProgress progress, CancellationToken stop)
    {
        var done = new HashSet<uint>();
        int listed = 0, failed = 0;
        var warming = new List<Task<int>>();
        try
        {
            // The table's files and their chunks first, so the plan is whole before anything is counted present.
            var files = new List<List<uint>>();
            for (uint p = 0; p < bootstrap.PrefetchCount; p++)
            {
                foreach (uint ino in FilesUnder(bootstrap, bootstrap.GetPrefetchIno(p)))
                {
                    var chunks = ChunksOf(bootstrap, ino).Where(done.Add).ToList();
                    if (chunks.Count > 0)
                        files.Add(chunks);
                }
                listed++;
            }
            progress.Plan(done.Count);
            // In table order, a few at a time: the table of a start-up lists many small files, and one request
            // after another would pay a registry round trip each; more would take the link from the readers.
            var slots = new SemaphoreSlim(TableConcurrency); // not disposed: a warm cut short by Stop may release it later
            foreach (var chunks in files)
            {
                await slots.WaitAsync(stop).ConfigureAwait(false);
                warming.Add(WarmFileThenReleaseAsync(bootstrap, provider, chunks, slots, log, progress, stop));
            }
            failed += (await Task.WhenAll(warming).ConfigureAwait(false)).Sum();
            if (wholeImage)
            {
                progress.Plan(bootstrap.ChunkCount - done.Count);
                var (warmed, warmFailures) = await new WholeImageWarmer(bootstrap, provider, concurrency, log, progress).RunAsync(done, stop).ConfigureAwait(false);
                failed += warmFailures;
                foreach (uint chunk in warmed)
                    done.Add(chunk);
            }
            log.LogInformation("prefetch done: {Entries} prefetch entries, {Chunks} chunks warmed, {Failed} failed", listed, done.Count, failed);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Unmounted while prefetching.
        }
        finally
        {
            // Completion must mean that nothing here touches the bootstrap any more: the unmount unmaps it next.
            await Task.WhenAll(warming).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    /// <summary>Prefetch-table files fetched at once (each in merged runs of its chunks).</summary>
    internal const int TableConcurrency = 4;

    /// <summary>
    /// One file's chunks in order, one fetch after another: the first takes the rest of the file along (up to the
    /// merge size), so the others are cache hits, or start where a run stopped. The files are what run side by side.
    /// </summary>
    private static async Task<int> WarmFileThenReleaseAsync(RafsBootstrap bootstrap, ChunkProvider provider, List<uint> chunks, SemaphoreSlim slots,
        ILogger log, PrefetchProgress progress, CancellationToken stop)
    {
        int failed = 0;
        try
        {
            long rest = chunks.Sum(c => (long)bootstrap.GetChunk(c).UncompressedSize);
            foreach (uint chunk in chunks)
            {
                rest -= bootstrap.GetChunk(chunk).UncompressedSize;
                try
                {
                    await provider.WarmAsync(chunk, (int)Math.Min(rest, int.MaxValue), stop).ConfigureAwait(false);
                    progress.Present();
                }
                catch (Exception e) when (e is P2PDistException or P2PDist.Oci.OciException or IOException)
                {
                    log.LogWarning("prefetch of chunk {Digest} failed: {Reason}", bootstrap.GetChunk(chunk).Digest, e.Message);
                    failed++;
                    progress.Failed();
                }
            }
            return failed;
        }
        finally
        {
            slots.Release();
        }
    }

    private static IEnumerable<uint> FilesUnder(RafsBootstrap bootstrap, uint ino)
    {
        var pending = new Stack<uint>();
        pending.Push(ino);
        while (pending.Count > 0)
        {
            uint current = pending.Pop();
            var inode = bootstrap.GetInode(current);
            if (inode.IsRegular)
                yield return current;
            else if (inode.IsDirectory)
            {
                foreach (var (_, child) in bootstrap.ReadDirectory(current))
                    pending.Push(child);
            }
        }
    }

    private static IEnumerable<uint> ChunksOf(RafsBootstrap bootstrap, uint ino)
    {
        var (start, count) = bootstrap.ChunkRefRange(ino);
        for (uint i = start; i < start + count; i++)
            yield return bootstrap.GetChunkRef(i).ChunkIndex;
    }

    /// <summary>Asks the prefetch to stop; <see cref="Completion"/> ends once it has (every wait in it takes the stop token).</summary>
    public void Stop()
    {
        _stop.Cancel();
        _progress.Dispose(); // the image's series lose this mount's counts now; a warm still finishing is not counted
    }

    public void Dispose()
    {
        Stop();
        try
        {
            Completion.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Its failures were logged; unmounting goes on.
        }
        if (Completion.IsCompleted)
            _stop.Dispose(); // else the loop still holds its token: left to the collector
    }
}
