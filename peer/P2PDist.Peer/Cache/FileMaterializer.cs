using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// Assembles a whole file from its cached chunks into one plain file, so FUSE passthrough can hand the kernel
/// a backing file and reads skip the daemon. Files are named by a digest over their chunk digests, so two
/// images holding the same file share one copy; written to a temporary name, flushed to disk (the kernel reads
/// a copy without any digest check, unlike chunks) and renamed. The copies count toward the cache's quota and are evicted with the chunks, least recently used
/// first (review M5); a copy whose size is wrong is made again (review M1).
/// An OPEN never waits for a copy: it asks for one (<see cref="RequestCopy"/>) and is served through FUSE, and a
/// later open of the file finds the copy (<see cref="TryExisting"/>). Copies are made one at a time in the
/// background and only of files of at least <see cref="MinCopyBytes"/>: a file read once (a container's start,
/// a whole-image read) would otherwise be written twice, with an fsync, on the path of its open; measured, that
/// was two fifths of a cold whole-image read's CPU (bench/RESULTS.md, "Cold whole-image read").
/// </summary>
public sealed class FileMaterializer : IDisposable
{
    /// <summary>Smaller files are a handful of FUSE reads, which the kernel's page cache then keeps: not worth a second copy.</summary>
    public const long MinCopyBytes = 1 << 20;

    /// <summary>Copies waiting; past it a request is refused (and forgotten: the next open asks again).</summary>
    private const int DefaultQueueLength = 256;

    private readonly ChunkCache _cache;
    private readonly string _directory;
    private readonly System.Threading.Channels.Channel<(IReadOnlyList<RafsChunk> Chunks, ulong Size, string Path)> _requests;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _queued = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;

    public FileMaterializer(ChunkCache cache, string directory)
        : this(cache, directory, DefaultQueueLength)
    {
    }

    internal FileMaterializer(ChunkCache cache, string directory, int queueLength)
    {
        _requests = System.Threading.Channels.Channel.CreateBounded<(IReadOnlyList<RafsChunk>, ulong, string)>(
            new System.Threading.Channels.BoundedChannelOptions(queueLength) { FullMode = System.Threading.Channels.BoundedChannelFullMode.Wait, SingleReader = true });
        _cache = cache;
        _directory = Directory.CreateDirectory(directory).FullName;
        foreach (var file in new DirectoryInfo(_directory).EnumerateFiles().OrderBy(f => f.LastWriteTimeUtc))
        {
            if (IsCopyName(file.Name))
                cache.AdoptFile(file.FullName, file.Length);
            else
                file.Delete(); // *.partial leftovers of a crash, or anything else: not a copy this class made
        }
        _worker = Task.Run(CopyRequestedAsync); // last: it uses the directory
    }

    private static bool IsCopyName(string name) => name.Length == 64 && name.All(Uri.IsHexDigit) && name == name.ToLowerInvariant();

    /// <summary>Copies made since start (tests and the mount listing wait on it).</summary>
    public long CopiesMade => Interlocked.Read(ref _copiesMade);

    private long _copiesMade;
    private long _copyFailures;

    /// <summary>Copies abandoned on an unexpected error (the file is read through FUSE instead).</summary>
    public long CopyFailures => Interlocked.Read(ref _copyFailures);

    /// <summary>The copy's path when one exists and is whole; null otherwise (nothing is written).</summary>
    public string? TryExisting(IReadOnlyList<RafsChunk> chunks, ulong size)
    {
        string path = CopyPath(chunks);
        return _cache.TryUseFile(path, (long)size) ? path : null;
    }

    /// <summary>What an OPEN asks: the copy's path when there is one, else null, having asked for one (<see cref="RequestCopy"/>).</summary>
    public string? ExistingOrRequest(IReadOnlyList<RafsChunk> chunks, ulong size)
    {
        string path = CopyPath(chunks);
        if (_cache.TryUseFile(path, (long)size))
            return path;
        Request(chunks, size, path);
        return null;
    }

    /// <summary>
    /// Asks for a copy of a file whose chunks are all cached now, made in the background; false when the file is
    /// too small or too big for one, or the queue is full.
    /// </summary>
    public bool RequestCopy(IReadOnlyList<RafsChunk> chunks, ulong size) => Request(chunks, size, CopyPath(chunks));

    private bool AllCached(IReadOnlyList<RafsChunk> chunks) => chunks.All(chunk => _cache.Contains(chunk.Digest));

    private bool Request(IReadOnlyList<RafsChunk> chunks, ulong size, string path)
    {
        if (size < MinCopyBytes || size > (ulong)_cache.MaxMaterializedBytes || _stop.IsCancellationRequested)
            return false;
        if (!AllCached(chunks))
            return false; // asked again by a later open, once the file has been read
        if (!_queued.TryAdd(path, 0))
            return true; // already asked for
        if (_requests.Writer.TryWrite((chunks, size, path))) // with FullMode Wait, false when full (DropWrite would say true and drop it)
            return true;
        _queued.TryRemove(path, out _);
        return false;
    }

    private async Task CopyRequestedAsync()
    {
        try
        {
            await foreach (var (chunks, size, path) in _requests.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    if (!_cache.TryUseFile(path, (long)size) && Write(chunks, size, path, _stop.Token))
                        Interlocked.Increment(ref _copiesMade);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One copy that failed in an unforeseen way must not end the worker: it only costs that file's fast path.
                    Interlocked.Increment(ref _copyFailures);
                }
                finally
                {
                    _queued.TryRemove(path, out _);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private string CopyPath(IReadOnlyList<RafsChunk> chunks)
    {
        using var hasher = Blake3.Hasher.New();
        foreach (var chunk in chunks)
            hasher.Update(chunk.Digest.Bytes);
        return Path.Combine(_directory, Convert.ToHexStringLower(hasher.Finalize().AsSpan()));
    }

    public void Dispose()
    {
        _stop.Cancel();
        _requests.Writer.TryComplete();
        try
        {
            _worker.Wait(TimeSpan.FromSeconds(10)); // one copy at most is under way; its reads and writes are local
        }
        catch (AggregateException)
        {
            // Its failures only cost the fast path.
        }
    }

    /// <summary>
    /// The path of the file's assembled copy, making it if every chunk is cached; null when some chunk is
    /// missing, the file is too big to be worth a copy under the quota, or the disk refuses.
    /// </summary>
    public string? TryMaterialize(IReadOnlyList<RafsChunk> chunks, ulong size)
    {
        if (size > (ulong)_cache.MaxMaterializedBytes || !AllCached(chunks))
            return null;
        string path = CopyPath(chunks);
        return _cache.TryUseFile(path, (long)size) || Write(chunks, size, path, CancellationToken.None) ? path : null;
    }

    /// <summary>Writes the copy at <paramref name="path"/> from the cached chunks; false when a chunk went, the size is off, the disk refuses, or stopping.</summary>
    private bool Write(IReadOnlyList<RafsChunk> chunks, ulong size, string path, CancellationToken cancellation)
    {
        string partial = path + "." + Guid.NewGuid().ToString("N")[..8] + ".partial";
        try
        {
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)chunks.Max(c => c.UncompressedSize));
            using (var output = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                try
                {
                    foreach (var chunk in chunks)
                    {
                        if (cancellation.IsCancellationRequested)
                            return false; // stopping: the partial file goes in the finally below
                        var bytes = buffer.AsSpan(0, (int)chunk.UncompressedSize);
                        if (!_cache.TryRead(chunk.Digest, chunk.UncompressedSize, 0, bytes))
                            return false; // evicted (or found damaged) meanwhile
                        output.Write(bytes);
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
                if ((ulong)output.Length != size)
                    return false;
                output.Flush(flushToDisk: true);
            }
            File.Move(partial, path, overwrite: true);
            _cache.AddFile(path, (long)size);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // a full disk only costs the fast path
        }
        finally
        {
            try
            {
                File.Delete(partial);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The directory itself went away: nothing to clean; an OPEN must not fail for it.
            }
        }
    }
}
