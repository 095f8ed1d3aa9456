using System.Globalization;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>Describes a Rafs image from its manifest and bootstrap alone (no blob is read).</summary>
public static class ImageInspector
{
    public static IEnumerable<string> Summary(RafsImage image)
    {
        var b = image.Bootstrap;
        long files = 0, directories = 0, symlinks = 0, others = 0, hardlinkNames = 0;
        ulong fileBytes = 0;
        var seen = new HashSet<uint>();
        foreach (var (_, ino) in b.Walk())
        {
            var inode = b.GetInode(ino);
            if (!seen.Add(ino))
            {
                hardlinkNames++;
                continue;
            }
            if (inode.IsDirectory) directories++;
            else if (inode.IsSymlink) symlinks++;
            else if (inode.IsRegular) { files++; fileBytes += inode.Size; }
            else others++;
        }
        ulong chunkBytes = 0, compressedBytes = 0;
        for (uint c = 0; c < b.ChunkCount; c++)
        {
            var chunk = b.GetChunk(c);
            chunkBytes += chunk.UncompressedSize;
            compressedBytes += chunk.CompressedSize;
        }
        yield return $"image: {image.Store.Reference}";
        yield return $"manifest: {image.Image.Raw.Digest}";
        yield return $"format: Rafs v1, {b.DigestAlgorithm.Name()} chunk digests, chunk size {b.ChunkSize / 1024} KiB";
        yield return $"bootstrap: {b.Length:N0} bytes, {b.InodeCount:N0} inodes";
        yield return $"tree: {files:N0} files, {directories:N0} directories, {symlinks:N0} symlinks, {others:N0} devices/fifos/sockets, {hardlinkNames:N0} extra hard-link names";
        yield return $"file bytes: {fileBytes:N0}";
        yield return $"chunks: {b.ChunkRefCount:N0} references, {b.ChunkCount:N0} distinct ({chunkBytes:N0} bytes, {compressedBytes:N0} compressed)";
        double ratio = chunkBytes == 0 ? 1 : (double)fileBytes / chunkBytes;
        yield return string.Create(CultureInfo.InvariantCulture, $"dedup ratio: {ratio:0.000} (file bytes / distinct chunk bytes)");
        yield return $"blobs: {b.BlobCount}";
        foreach (var blob in b.Blobs())
            yield return $"  {blob.Digest} {blob.Size:N0} bytes, {blob.ChunkCount:N0} chunks";
        yield return $"prefetch: {b.PrefetchCount} entries";
    }

    /// <summary>One line per entry: type+mode, owner, size, path, and for files a digest over the chunk digests (a Merkle root of the content).</summary>
    public static IEnumerable<string> Files(RafsImage image)
    {
        var b = image.Bootstrap;
        foreach (var (path, ino) in b.Walk())
        {
            var inode = b.GetInode(ino);
            string mode = $"{PosixMode.TypeLetter(inode.Mode)}{Convert.ToString(inode.Mode & PosixMode.PermissionMask, 8).PadLeft(4, '0')}";
            string extra = inode.IsSymlink ? " -> " + b.SymlinkTarget(ino) : inode.IsRegular ? " " + ContentDigest(b, ino) : "";
            yield return $"{mode} {inode.Uid}:{inode.Gid} {inode.Size,12} /{path}{extra}";
        }
    }

    private static string ContentDigest(RafsBootstrap b, uint ino)
    {
        var (start, count) = b.ChunkRefRange(ino);
        using var hasher = Blake3.Hasher.New();
        for (uint i = start; i < start + count; i++)
            hasher.Update(b.GetChunk(b.GetChunkRef(i).ChunkIndex).Digest.Bytes);
        return "chunks:" + Convert.ToHexStringLower(hasher.Finalize().AsSpan());
    }
}
