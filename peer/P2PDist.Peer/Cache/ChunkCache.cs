using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// The node's on-disk chunk cache, shared by every mount: one file per chunk, named by its digest, holding
/// the chunk's verified uncompressed bytes. A chunk is written to a temporary file and renamed into place,
/// so a crash at any moment leaves either no file or a complete one, never a damaged chunk under its name.
/// A chunk that two images share is stored once.
/// </summary>
public sealed class ChunkCache
{
    private readonly string _chunks;
    private readonly string _staging;
    private int _diskFullReported;

    public ChunkCache(string directory)
    {
        _chunks = Directory.CreateDirectory(Path.Combine(directory, "chunks")).FullName;
        _staging = Directory.CreateDirectory(Path.Combine(directory, "staging")).FullName;
        // Leftovers of a crash mid-write are incomplete by definition.
        foreach (var leftover in Directory.EnumerateFiles(_staging))
            File.Delete(leftover);
    }

    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);
    public long WriteFailures => Interlocked.Read(ref _writeFailures);
    private long _hits, _misses, _writeFailures;

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
            using var handle = File.OpenHandle(PathOf(digest));
            if (RandomAccess.GetLength(handle) != chunkSize || RandomAccess.Read(handle, destination, offset) != destination.Length)
            {
                Interlocked.Increment(ref _misses);
                return false;
            }
            Interlocked.Increment(ref _hits);
            return true;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            Interlocked.Increment(ref _misses);
            return false;
        }
    }

    public bool Contains(ChunkDigest digest) => File.Exists(PathOf(digest));

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
}
