using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// The node's on-disk chunk cache, shared by every mount: one file per chunk, named by its digest, holding
/// the chunk's verified uncompressed bytes. A chunk is written to a temporary file and renamed into place, without
/// an fsync: every file is hashed against its digest on its first open by a process, so one that a crash or power
/// loss left short or garbled is discarded and fetched again, never served. A chunk that two images share is stored once. Over the size quota, the least
/// recently used chunks and materialized files (<see cref="FileMaterializer"/>) are evicted, except chunks of
/// files that are open (pinned, up to half the quota); the index is rebuilt from the files at start, so the
/// cache's contents and size survive restarts.
/// </summary>
/// <remarks>
/// Files at rest are not trusted blindly (review M1): each chunk file is hashed once per process, the first
/// time it is opened for a reader (<see cref="TryOpen"/>, <see cref="TryRead"/>) or for a neighbour
/// (<see cref="PathOfName"/>), and one that fails its length or digest is deleted, so the chunk is fetched
/// again. Later reads of a verified file, through a kept handle, cost one pread: a full hash on every hot read
/// would cost more than the read, and the files are written once and never modified by this process.
/// </remarks>
public sealed class ChunkCache
{
    /// <summary>The largest chunk a bootstrap may declare (RAFS-FORMAT.md: chunk size at most 16 MiB).</summary>
    private const long MaxChunkBytes = 16 << 20;

    private readonly string _chunks;
    private readonly string _staging;
    private readonly long _quota;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<ChunkDigest, PinState> _pins = [];
    /// <summary>
    /// Held while the index and the disk change together (rename into place, delete, eviction), so the index
    /// never lists a file that is gone nor misses one that is there (review L2).
    /// </summary>
    private readonly object _lock = new();
    private long _size;
    private long _clock;
    private long _pinnedBytes;
    private int _diskFullReported;

    /// <summary>A cached file: a chunk (with its digest) or a materialized file (no digest).</summary>
    private sealed class Entry(long size, long lastUse, ChunkDigest? digest, bool verified)
    {
        public long Size { get; } = size;
        public long LastUse = lastUse;
        public ChunkDigest? Digest { get; } = digest;
        /// <summary>Hashed (or written) by this process: trusted from now on.</summary>
        public volatile bool Verified = verified;
    }

    /// <summary>Opens of files using a chunk; <c>Protected</c> bytes when the chunk got a place under the pin cap.</summary>
    private sealed class PinState
    {
        public int Count;
        public long Protected;
    }

    /// <param name="quotaBytes">Size the cache may reach before it evicts; 0 for no limit.</param>
    /// <param name="log">Where repairs (damaged or stray files removed) are reported.</param>
    public ChunkCache(string directory, long quotaBytes = 0, Action<string>? log = null)
    {
        _quota = quotaBytes;
        _log = log ?? (_ => { });
        _chunks = Directory.CreateDirectory(Path.Combine(directory, "chunks")).FullName;
        _staging = Directory.CreateDirectory(Path.Combine(directory, "staging")).FullName;
        // Leftovers of a crash mid-write are incomplete by definition.
        foreach (var leftover in Directory.EnumerateFiles(_staging))
            File.Delete(leftover);
        // Oldest first by modification time, so eviction order survives a restart roughly.
        foreach (var file in new DirectoryInfo(_chunks).EnumerateFiles("*", SearchOption.AllDirectories).OrderBy(f => f.LastWriteTimeUtc))
        {
            if (DigestOfPath(file.FullName) is not { } digest)
            {
                // Not a name this cache writes: it would break eviction and could never be served (review L2).
                _log($"chunk cache: removing {file.FullName}, which is not a chunk file name");
                TryDelete(file.FullName);
                Interlocked.Increment(ref _repairs);
                continue;
            }
            _entries[file.FullName] = new Entry(file.Length, ++_clock, digest, verified: false);
            _size += file.Length;
        }
    }

    public long Evictions => Interlocked.Read(ref _evictions);
    private long _evictions;

    /// <summary>Files removed because they were damaged (length or digest) or not chunk files at all.</summary>
    public long Repairs => Interlocked.Read(ref _repairs);
    private long _repairs;

    /// <summary>
    /// Bytes that open files may keep from eviction: half the quota. Past it a chunk of an open file is evicted
    /// like any other and fetched again when read (review M5: one open 100 GB file must not grow the cache).
    /// </summary>
    public long PinCapBytes => _quota > 0 ? _quota / 2 : long.MaxValue;

    /// <summary>The largest file worth materializing: a copy bigger than a quarter of the quota would push out the chunks it is made of.</summary>
    public long MaxMaterializedBytes => _quota > 0 ? _quota / 4 : long.MaxValue;

    public long PinnedBytes => Interlocked.Read(ref _pinnedBytes);

    /// <summary>Keeps a chunk from eviction while a file that needs it is open (within <see cref="PinCapBytes"/>).</summary>
    public void Pin(ChunkDigest digest, long size)
    {
        lock (_pins)
        {
            if (!_pins.TryGetValue(digest, out var pin))
                _pins[digest] = pin = new PinState();
            if (pin.Count++ == 0 && _pinnedBytes + size <= PinCapBytes)
            {
                pin.Protected = size;
                _pinnedBytes += size;
            }
        }
    }

    public void Unpin(ChunkDigest digest)
    {
        lock (_pins)
        {
            if (!_pins.TryGetValue(digest, out var pin) || --pin.Count > 0)
                return;
            _pinnedBytes -= pin.Protected;
            _pins.Remove(digest);
        }
    }

    private bool IsProtected(ChunkDigest digest)
    {
        lock (_pins)
            return _pins.TryGetValue(digest, out var pin) && pin.Protected > 0;
    }

    public long Hits => Interlocked.Read(ref _hits);
    public long SizeBytes => Interlocked.Read(ref _size);
    /// <summary>Files the cache holds now: chunk files and passthrough copies.</summary>
    public int EntryCount => _entries.Count;

    /// <summary>Raised (under the cache's lock) for each chunk evicted or removed as damaged, so the swarm can be told it is gone.</summary>
    public event Action<ChunkDigest>? Evicted;
    public long Misses => Interlocked.Read(ref _misses);
    public long WriteFailures => Interlocked.Read(ref _writeFailures);
    private long _hits, _misses, _writeFailures;

    /// <summary>The digest a path under chunks/ names, or null if it is not exactly where this cache would put that chunk.</summary>
    private ChunkDigest? DigestOfPath(string path)
    {
        if (!ChunkNames.TryParse(Path.GetFileName(path), out var algorithm, out string hex))
            return null;
        var digest = new ChunkDigest(algorithm, Convert.FromHexString(hex));
        return string.Equals(PathOf(digest), path, StringComparison.Ordinal) ? digest : null;
    }

    /// <summary>
    /// The path of a cached chunk a peer asks for by name ("blake3-HEX"), for the chunk server to send. Null if
    /// the name is malformed, the chunk is not cached, or its file fails verification (it is then removed): a
    /// neighbour is never sent bytes this process has not checked.
    /// </summary>
    public string? PathOfName(string name)
    {
        if (!ChunkNames.TryParse(name, out var algorithm, out string hex))
            return null;
        var digest = new ChunkDigest(algorithm, Convert.FromHexString(hex));
        return ContainsVerified(digest) ? PathOf(digest) : null;
    }

    private string PathOf(ChunkDigest digest)
    {
        string hex = Convert.ToHexStringLower(digest.Bytes);
        return Path.Combine(_chunks, hex[..2], $"{digest.Algorithm.Name()}-{hex}");
    }

    /// <summary>
    /// Reads bytes <paramref name="offset"/>.. of a cached chunk of <paramref name="chunkSize"/> bytes into
    /// <paramref name="destination"/>; false when the chunk is not cached. Only the bytes asked for are read
    /// (a 4 KiB read must not cost a 1 MiB one), once the file was verified.
    /// </summary>
    public bool TryRead(ChunkDigest digest, uint chunkSize, int offset, Span<byte> destination)
    {
        using var handle = OpenVerified(digest, chunkSize);
        if (handle is null || RandomAccess.Read(handle, destination, offset) != destination.Length)
        {
            Interlocked.Increment(ref _misses);
            return false;
        }
        Interlocked.Increment(ref _hits);
        return true;
    }

    /// <summary>An open handle on a whole, verified cached chunk, or null. The caller keeps it for repeated reads and disposes it.</summary>
    public SafeFileHandle? TryOpen(ChunkDigest digest, uint chunkSize)
    {
        var handle = OpenVerified(digest, chunkSize);
        if (handle is null)
            Interlocked.Increment(ref _misses);
        return handle;
    }

    /// <summary>
    /// Opens a chunk file the index lists; the first time in this process, hashes it all. A file of the wrong
    /// length or digest is deleted (and its chunk withdrawn) and null returned: the caller fetches it again.
    /// </summary>
    private SafeFileHandle? OpenVerified(ChunkDigest digest, uint? expectedSize)
    {
        string path = PathOf(digest);
        if (!_entries.TryGetValue(path, out var entry))
            return null;
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            Discard(path, entry, "the file is gone");
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // unreadable now (for instance too many open files): a miss, not damage
        }
        long length = RandomAccess.GetLength(handle);
        string? damage = expectedSize is { } size && length != size ? $"{length} bytes, expected {size}"
            : !entry.Verified && !HashMatches(handle, length, digest) ? "its bytes do not match the digest" : null;
        if (damage is not null)
        {
            handle.Dispose();
            Discard(path, entry, damage);
            return null;
        }
        entry.Verified = true;
        entry.LastUse = Interlocked.Increment(ref _clock);
        return handle;
    }

    private static bool HashMatches(SafeFileHandle handle, long length, ChunkDigest digest)
    {
        if (length > MaxChunkBytes)
            return false;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            var bytes = buffer.AsSpan(0, (int)length);
            if (RandomAccess.Read(handle, bytes, 0) != length)
                return false;
            return digest.Matches(ChunkDigest.Compute(digest.Algorithm, bytes).Bytes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Removes a damaged or vanished chunk file, unless a fresh copy replaced it meanwhile.</summary>
    private void Discard(string path, Entry entry, string reason)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(path, out var current) || !ReferenceEquals(current, entry))
                return; // stored again meanwhile
            TryDelete(path);
            _entries.TryRemove(path, out _);
            Interlocked.Add(ref _size, -entry.Size);
            Interlocked.Increment(ref _repairs);
            if (entry.Digest is { } digest)
                Evicted?.Invoke(digest);
        }
        _log($"chunk cache: removed {path} ({reason}); it will be fetched again");
    }

    /// <summary>Counts a hit served through a handle the caller kept.</summary>
    public void CountHit() => Interlocked.Increment(ref _hits);

    public bool Contains(ChunkDigest digest) => _entries.ContainsKey(PathOf(digest));

    /// <summary>
    /// Like <see cref="Contains"/>, but a file not yet checked by this process is hashed first (and discarded when
    /// damaged): for decisions that skip a fetch because the chunk is there, such as the prefetch's.
    /// </summary>
    public bool ContainsVerified(ChunkDigest digest)
    {
        if (!_entries.TryGetValue(PathOf(digest), out var entry))
            return false;
        if (entry.Verified)
            return true;
        using var handle = OpenVerified(digest, expectedSize: null);
        return handle is not null;
    }

    /// <summary>
    /// Stores a verified chunk, replacing a file of that name that was not verified (it may be the damaged one
    /// that made this fetch necessary). A full or failing disk does not fail the read that fetched it: the
    /// chunk is served from memory and the condition is logged once and counted.
    /// </summary>
    public void Store(ChunkDigest digest, ReadOnlySpan<byte> verifiedData, Action<string>? reportOnce = null)
    {
        string target = PathOf(digest);
        if (_entries.TryGetValue(target, out var existing) && existing.Verified && existing.Size == verifiedData.Length)
            return;
        string directory = Path.GetDirectoryName(target)!;
        string temporary = Path.Combine(_staging, Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(directory);
            // No fsync of the file or its directory: every chunk file is hashed on its first open by a new process
            // (OpenVerified), so one that a power loss left empty, short or garbled is discarded and fetched again,
            // never served. Two fsyncs per chunk were a seventh of a cold read's CPU here (bench/RESULTS.md, "Cold whole-image read").
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
            {
                file.Write(verifiedData);
            }
            lock (_lock)
            {
                File.Move(temporary, target, overwrite: true);
                var entry = new Entry(verifiedData.Length, Interlocked.Increment(ref _clock), digest, verified: true);
                long previous = _entries.TryGetValue(target, out var replaced) ? replaced.Size : 0;
                _entries[target] = entry;
                Interlocked.Add(ref _size, verifiedData.Length - previous);
            }
            EvictIfOverQuota();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _writeFailures);
            if (Interlocked.Exchange(ref _diskFullReported, 1) == 0)
                reportOnce?.Invoke($"chunk cache {_chunks} cannot store chunks ({e.Message}); serving from memory without caching");
            TryDelete(temporary); // else swept at the next start
        }
    }

    /// <summary>Counts a materialized file found at start (<see cref="FileMaterializer"/>) toward the quota.</summary>
    public void AdoptFile(string path, long size)
    {
        lock (_lock)
        {
            if (_entries.TryAdd(path, new Entry(size, Interlocked.Increment(ref _clock), null, verified: true)))
                Interlocked.Add(ref _size, size);
        }
    }

    /// <summary>Counts a materialized file just renamed into place toward the quota; evicts if the cache is now over it.</summary>
    public void AddFile(string path, long size)
    {
        lock (_lock)
        {
            long previous = _entries.TryGetValue(path, out var replaced) ? replaced.Size : 0;
            _entries[path] = new Entry(size, Interlocked.Increment(ref _clock), null, verified: true);
            Interlocked.Add(ref _size, size - previous);
        }
        EvictIfOverQuota();
    }

    /// <summary>
    /// Whether a materialized file is in the cache with exactly <paramref name="size"/> bytes (marking it used).
    /// A copy of another size (truncated, review M1) is deleted, so it is assembled again.
    /// </summary>
    public bool TryUseFile(string path, long size)
    {
        if (!_entries.TryGetValue(path, out var entry))
            return false;
        long actual;
        try
        {
            actual = new FileInfo(path).Length;
        }
        catch (FileNotFoundException)
        {
            actual = -1;
        }
        if (actual == size && entry.Size == size)
        {
            entry.LastUse = Interlocked.Increment(ref _clock);
            return true;
        }
        Discard(path, entry, actual < 0 ? "the file is gone" : $"{actual} bytes, expected {size}");
        return false;
    }

    private void EvictIfOverQuota()
    {
        if (_quota > 0 && Interlocked.Read(ref _size) > _quota)
            Evict();
    }

    /// <summary>Deletes least recently used files, except protected pinned chunks, until the cache is at 90 % of its quota. Never throws on a file it cannot delete.</summary>
    private void Evict()
    {
        lock (_lock)
        {
            long target = _quota / 10 * 9;
            if (Interlocked.Read(ref _size) <= target)
                return;
            foreach (var (path, entry) in _entries.ToArray().OrderBy(e => e.Value.LastUse))
            {
                if (Interlocked.Read(ref _size) <= target)
                    break;
                if (entry.Digest is { } pinned && IsProtected(pinned))
                    continue;
                if (!TryDelete(path))
                    continue;
                _entries.TryRemove(path, out _);
                Interlocked.Add(ref _size, -entry.Size);
                Interlocked.Increment(ref _evictions);
                if (entry.Digest is { } digest)
                    Evicted?.Invoke(digest);
            }
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
