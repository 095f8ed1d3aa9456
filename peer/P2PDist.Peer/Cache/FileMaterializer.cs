using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// Assembles a whole file from its cached chunks into one plain file, so FUSE passthrough can hand the kernel
/// a backing file and reads skip the daemon. Files are named by a digest over their chunk digests, so two
/// images holding the same file share one copy; written to a temporary name, flushed and renamed, like
/// chunks. The copies count toward the cache's quota and are evicted with the chunks, least recently used
/// first (review M5); a copy whose size is wrong is made again (review M1).
/// </summary>
public sealed class FileMaterializer
{
    private readonly ChunkCache _cache;
    private readonly string _directory;

    public FileMaterializer(ChunkCache cache, string directory)
    {
        _cache = cache;
        _directory = Directory.CreateDirectory(directory).FullName;
        foreach (var file in new DirectoryInfo(_directory).EnumerateFiles().OrderBy(f => f.LastWriteTimeUtc))
        {
            if (IsCopyName(file.Name))
                cache.AdoptFile(file.FullName, file.Length);
            else
                file.Delete(); // *.partial leftovers of a crash, or anything else: not a copy this class made
        }
    }

    private static bool IsCopyName(string name) => name.Length == 64 && name.All(Uri.IsHexDigit) && name == name.ToLowerInvariant();

    /// <summary>
    /// The path of the file's assembled copy, making it if every chunk is cached; null when some chunk is
    /// missing, the file is too big to be worth a copy under the quota, or the disk refuses.
    /// </summary>
    public string? TryMaterialize(IReadOnlyList<RafsChunk> chunks, ulong size)
    {
        if (size > (ulong)_cache.MaxMaterializedBytes)
            return null;
        using var hasher = Blake3.Hasher.New();
        foreach (var chunk in chunks)
        {
            if (!_cache.Contains(chunk.Digest))
                return null;
            hasher.Update(chunk.Digest.Bytes);
        }
        string path = Path.Combine(_directory, Convert.ToHexStringLower(hasher.Finalize().AsSpan()));
        if (_cache.TryUseFile(path, (long)size))
            return path;
        string partial = path + "." + Guid.NewGuid().ToString("N")[..8] + ".partial";
        try
        {
            using (var output = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                foreach (var chunk in chunks)
                {
                    var buffer = new byte[chunk.UncompressedSize];
                    if (!_cache.TryRead(chunk.Digest, chunk.UncompressedSize, 0, buffer))
                        return null; // evicted (or found damaged) meanwhile
                    output.Write(buffer);
                }
                if ((ulong)output.Length != size)
                    return null;
                output.Flush(flushToDisk: true);
            }
            File.Move(partial, path, overwrite: true);
            _cache.AddFile(path, (long)size);
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // a full disk only costs the fast path
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
