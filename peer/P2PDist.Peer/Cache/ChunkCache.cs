using System.Collections.Concurrent;
using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// The node's on-disk chunk cache, shared by every mount: one file per chunk, named by its digest, holding
/// the chunk's verified uncompressed bytes. A chunk is written to a temporary file and renamed into place,
/// so a crash at any moment leaves either no file or a complete one, never a damaged chunk under its name.
/// A chunk that two images share is stored once. Over the size quota, the least recently used chunks are
/// evicted, except those of files that are open (pinned); the index is rebuilt from the files at start, so
/// the cache's contents and size survive restarts.
/// </summary>
public sealed class ChunkCache
{
    private readonly string _chunks;
    private readonly string _staging;
    private readonly long _quota;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ChunkDigest, int> _pins = new();
    private readonly object _evictionLock = new();
    private long _size;
    private long _clock;
    private int _diskFullReported;

    private sealed class Entry(long size, long lastUse)
    {
        public long Size { get; } = size;
        public long LastUse = lastUse;
    }

    /// <param name="quotaBytes">Size the cache may reach before it evicts; 0 for no limit.</param>
    public ChunkCache(string directory, long quotaBytes = 0)
    {
        _quota = quotaBytes;
        _chunks = Directory.CreateDirectory(Path.Combine(directory, "chunks")).FullName;
        _staging = Directory.CreateDirectory(Path.Combine(directory, "staging")).FullName;
        // Leftovers of a crash mid-write are incomplete by definition.
        foreach (var leftover in Directory.EnumerateFiles(_staging))
            File.Delete(leftover);
        // Oldest first by modification time, so eviction order survives a restart roughly.
        foreach (var file in new DirectoryInfo(_chunks).EnumerateFiles("*", SearchOption.AllDirectories).OrderBy(f => f.LastWriteTimeUtc))
        {
            _entries[file.FullName] = new Entry(file.Length, ++_clock);
            _size += file.Length;
        }
    }

    public long Evictions => Interlocked.Read(ref _evictions);
    private long _evictions;

    /// <summary>Keeps a chunk from eviction while a file that needs it is open.</summary>
    public void Pin(ChunkDigest digest) => _pins.AddOrUpdate(digest, 1, (_, n) => n + 1);

    public void Unpin(ChunkDigest digest)
    {
        if (_pins.AddOrUpdate(digest, 0, (_, n) => n - 1) <= 0)
            _pins.TryRemove(new KeyValuePair<ChunkDigest, int>(digest, 0));
    }

    public long Hits => Interlocked.Read(ref _hits);
    public long SizeBytes => Interlocked.Read(ref _size);

    /// <summary>Raised (under the eviction lock) for each chunk the quota evicted, so the swarm can be told it is gone.</summary>
    public event Action<ChunkDigest>? Evicted;
    public long Misses => Interlocked.Read(ref _misses);
    public long WriteFailures => Interlocked.Read(ref _writeFailures);
    private long _hits, _misses, _writeFailures;

    /// <summary>The path for a chunk file name as peers ask for it ("blake3-HEX"), or null if the name is malformed.</summary>
    public string? PathOfName(string name)
    {
        var parts = name.Split('-');
        if (parts.Length != 2 || parts[0] is not ("blake3" or "sha256") || parts[1].Length != 64 || !parts[1].All(Uri.IsHexDigit) || parts[1] != parts[1].ToLowerInvariant())
            return null;
        return Path.Combine(_chunks, parts[1][..2], name);
    }

    private string PathOf(ChunkDigest digest)
    {
        string hex = Convert.ToHexStringLower(digest.Bytes);
        return Path.Combine(_chunks, hex[..2], $"{digest.Algorithm.Name()}-{hex}");
    }

    /// <summary>
    /// Reads bytes <paramref name="offset"/>.. of a cached chunk of <paramref name="chunkSize"/> bytes into
    /// <paramref name="destination"/>; false when the chunk is not cached. Only the bytes asked for are read:
    /// a 4 KiB read must not cost a 1 MiB one.
    /// </summary>
    public bool TryRead(ChunkDigest digest, uint chunkSize, int offset, Span<byte> destination)
    {
        try
        {
            string path = PathOf(digest);
            using var handle = File.OpenHandle(path);
            if (RandomAccess.GetLength(handle) != chunkSize || RandomAccess.Read(handle, destination, offset) != destination.Length)
            {
                Interlocked.Increment(ref _misses);
                return false;
            }
            Interlocked.Increment(ref _hits);
            if (_entries.TryGetValue(path, out var entry))
                entry.LastUse = Interlocked.Increment(ref _clock);
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            Interlocked.Increment(ref _misses);
            return false;
        }
    }

    /// <summary>An open handle on a whole cached chunk, or null. The caller keeps it for repeated reads and disposes it.</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle? TryOpen(ChunkDigest digest, uint chunkSize)
    {
        try
        {
            var handle = File.OpenHandle(PathOf(digest));
            if (RandomAccess.GetLength(handle) == chunkSize)
                return handle;
            handle.Dispose();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Not cached.
        }
        Interlocked.Increment(ref _misses);
        return null;
    }

    /// <summary>Counts a hit served through a handle the caller kept.</summary>
    public void CountHit() => Interlocked.Increment(ref _hits);

    public bool Contains(ChunkDigest digest) => _entries.ContainsKey(PathOf(digest));

    /// <summary>
    /// Stores a verified chunk. A full or failing disk does not fail the read that fetched it: the chunk is
    /// served from memory and the condition is logged once and counted.
    /// </summary>
    public void Store(ChunkDigest digest, ReadOnlySpan<byte> verifiedData, Action<string>? reportOnce = null)
    {
        string target = PathOf(digest);
        if (File.Exists(target))
            return;
        string temporary = Path.Combine(_staging, Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
                file.Write(verifiedData);
            File.Move(temporary, target, overwrite: true);
            if (_entries.TryAdd(target, new Entry(verifiedData.Length, Interlocked.Increment(ref _clock))))
                Interlocked.Add(ref _size, verifiedData.Length);
            if (_quota > 0 && Interlocked.Read(ref _size) > _quota)
                Evict();
        }
        catch (IOException e)
        {
            Interlocked.Increment(ref _writeFailures);
            if (Interlocked.Exchange(ref _diskFullReported, 1) == 0)
                reportOnce?.Invoke($"chunk cache {_chunks} cannot store chunks ({e.Message}); serving from memory without caching");
            try
            {
                File.Delete(temporary);
            }
            catch (IOException)
            {
                // The staging folder is swept at the next start.
            }
        }
    }

    /// <summary>Deletes least recently used, unpinned chunks until the cache is at 90 % of its quota.</summary>
    private void Evict()
    {
        lock (_evictionLock)
        {
            long target = _quota / 10 * 9;
            if (Interlocked.Read(ref _size) <= target)
                return;
            foreach (var (path, entry) in _entries.ToArray().OrderBy(e => e.Value.LastUse))
            {
                if (Interlocked.Read(ref _size) <= target)
                    break;
                if (_pins.ContainsKey(DigestOf(path)))
                    continue;
                try
                {
                    File.Delete(path);
                }
                catch (IOException)
                {
                    continue;
                }
                if (_entries.TryRemove(path, out _))
                {
                    Interlocked.Add(ref _size, -entry.Size);
                    Interlocked.Increment(ref _evictions);
                    Evicted?.Invoke(DigestOf(path));
                }
            }
        }
    }

    private static ChunkDigest DigestOf(string path)
    {
        var name = Path.GetFileName(path).Split('-');
        return new ChunkDigest(DigestAlgorithmNames.Parse(name[0]), Convert.FromHexString(name[1]));
    }
}
