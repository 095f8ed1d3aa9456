using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// Assembles a whole file from its cached chunks into one plain file, so FUSE passthrough can hand the kernel
/// a backing file and reads skip the daemon. Files are named by a digest over their chunk digests, so two
/// images holding the same file share one copy; written to a temporary name and renamed, like chunks.
/// </summary>
public sealed class FileMaterializer
{
    private readonly ChunkCache _cache;
    private readonly string _directory;

    public FileMaterializer(ChunkCache cache, string directory)
    {
        _cache = cache;
        _directory = Directory.CreateDirectory(directory).FullName;
        foreach (var partial in Directory.EnumerateFiles(_directory, "*.partial"))
            File.Delete(partial);
    }

    /// <summary>The path of the file's assembled copy, making it if every chunk is cached; null when some chunk is missing.</summary>
    public string? TryMaterialize(IReadOnlyList<RafsChunk> chunks, ulong size)
    {
        using var hasher = Blake3.Hasher.New();
        foreach (var chunk in chunks)
        {
            if (!_cache.Contains(chunk.Digest))
                return null;
            hasher.Update(chunk.Digest.Bytes);
        }
        string path = Path.Combine(_directory, Convert.ToHexStringLower(hasher.Finalize().AsSpan()));
        if (File.Exists(path))
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
                        return null; // evicted meanwhile
                    output.Write(buffer);
                }
                if ((ulong)output.Length != size)
                    return null;
            }
            File.Move(partial, path, overwrite: true);
            return path;
        }
        catch (IOException)
        {
            return null; // a full disk only costs the fast path
        }
        finally
        {
            File.Delete(partial);
        }
    }
}
