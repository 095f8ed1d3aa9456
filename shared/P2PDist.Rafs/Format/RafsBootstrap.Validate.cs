namespace P2PDist.Rafs;

// Full structural validation: every record, every range, every reference. Opening checks only the header;
// `image check`, the fuzz test and a mount (once, at the root of trust) call this.
public sealed partial class RafsBootstrap
{
    public void Validate()
    {
        var blobChunkTotals = new ulong[BlobCount];
        for (uint c = 0; c < ChunkCount; c++)
        {
            var chunk = GetChunk(c);
            int at = RecordOffset(RafsTable.Chunks, c);
            if (chunk.BlobIndex >= BlobCount)
                throw new RafsFormatException(at, $"chunk {c}: blob index {chunk.BlobIndex} out of range ({BlobCount} blobs)");
            if (chunk.Compression is not (ChunkCompression.None or ChunkCompression.Zstd or ChunkCompression.Lz4))
                throw new RafsFormatException(at + 4, $"chunk {c}: unknown compression {(byte)chunk.Compression}");
            if (chunk.UncompressedSize == 0 || chunk.UncompressedSize > ChunkSize)
                throw new RafsFormatException(at + 20, $"chunk {c}: uncompressed size {chunk.UncompressedSize} outside 1..{ChunkSize}");
            if (chunk.CompressedSize == 0 || chunk.CompressedSize > (uint)ChunkCodecLimits.MaxCompressed(ChunkSize))
                throw new RafsFormatException(at + 16, $"chunk {c}: compressed size {chunk.CompressedSize} is impossible for chunk size {ChunkSize}");
            if (chunk.Compression == ChunkCompression.None && chunk.CompressedSize != chunk.UncompressedSize)
                throw new RafsFormatException(at + 16, $"chunk {c}: stored uncompressed but sizes differ");
            var blob = GetBlob(chunk.BlobIndex);
            if (chunk.CompressedOffset + chunk.CompressedSize > blob.Size || chunk.CompressedOffset + chunk.CompressedSize < chunk.CompressedOffset)
                throw new RafsFormatException(at + 8, $"chunk {c}: bytes {chunk.CompressedOffset}+{chunk.CompressedSize} lie outside blob {blob.Digest} ({blob.Size} bytes)");
        }

        var direntOwner = new uint[DirentCount];
        for (uint ino = 1; ino <= InodeCount; ino++)
            ValidateInode(ino, direntOwner);

        for (uint d = 0; d < DirentCount; d++)
        {
            if (direntOwner[d] == 0)
                throw new RafsFormatException(RecordOffset(RafsTable.Dirents, d), $"dirent {d} belongs to no directory");
        }
        for (uint p = 0; p < PrefetchCount; p++)
        {
            uint ino = GetPrefetchIno(p);
            if (ino == 0 || ino > InodeCount)
                throw new RafsFormatException(RecordOffset(RafsTable.Prefetch, p), $"prefetch entry {p}: inode {ino} out of range");
        }
        CheckTreeIsConnected();
    }

    private void ValidateInode(uint ino, uint[] direntOwner)
    {
        var inode = GetInode(ino);
        int at = RecordOffset(RafsTable.Inodes, ino - 1);
        if (!PosixMode.IsKnownType(inode.Mode) || (inode.Mode & ~(PosixMode.TypeMask | PosixMode.PermissionMask)) != 0)
            throw new RafsFormatException(at, $"inode {ino}: invalid mode 0x{inode.Mode:x}");
        if (inode.MtimeNanoseconds >= 1_000_000_000)
            throw new RafsFormatException(at + 32, $"inode {ino}: mtime nanoseconds {inode.MtimeNanoseconds} >= 1e9");
        ValidateXattrs(ino, inode);
        if (inode.IsDirectory)
            ValidateDirectory(ino, inode, direntOwner);
        else if (inode.IsRegular)
            ValidateFileChunks(ino, inode);
        else if (inode.IsSymlink)
            ValidateSymlink(ino, inode, at);
    }

    /// <summary>Linux refuses longer targets (PATH_MAX) and a NUL would cut the target short in readlink(2) (review L4).</summary>
    private void ValidateSymlink(uint ino, RafsInode inode, int at)
    {
        if (inode.Count > RafsLayout.MaxPathLength)
            throw new RafsFormatException(at + 56, $"inode {ino}: symlink target of {inode.Count} bytes, over the {RafsLayout.MaxPathLength}-byte limit");
        var target = String(inode.First, inode.Count, at);
        if (target.IndexOf((byte)0) >= 0)
            throw new RafsFormatException(at + 52, $"inode {ino}: symlink target contains a NUL byte");
        StrictText(target, at + 52, $"inode {ino}: symlink target");
    }

    /// <summary>The limits of setxattr(2): a name of 1..255 bytes without NUL, a value of at most 64 KiB (review L4).</summary>
    private void ValidateXattrs(uint ino, RafsInode inode)
    {
        if (inode.XattrCount == 0)
            return;
        CheckRange(RafsTable.Xattrs, inode.XattrStart, inode.XattrCount, ino);
        for (uint i = 0; i < inode.XattrCount; i++)
        {
            int at = XattrBytes(inode.XattrStart + i, out var name, out var value);
            if (name.Length is 0 or > RafsLayout.MaxXattrNameLength)
                throw new RafsFormatException(at + 4, $"inode {ino}: xattr name of {name.Length} bytes, outside 1..{RafsLayout.MaxXattrNameLength}");
            if (name.IndexOf((byte)0) >= 0)
                throw new RafsFormatException(at, $"inode {ino}: xattr name '{Utf8(name)}' contains a NUL byte");
            StrictText(name, at, $"inode {ino}: xattr name");
            if (value.Length > RafsLayout.MaxXattrValueLength)
                throw new RafsFormatException(at + 12, $"inode {ino}: xattr '{Utf8(name)}' value of {value.Length} bytes, over the {RafsLayout.MaxXattrValueLength}-byte limit");
        }
    }

    private void ValidateDirectory(uint ino, RafsInode dir, uint[] direntOwner)
    {
        CheckRange(RafsTable.Dirents, dir.First, dir.Count, ino);
        ReadOnlySpan<byte> previous = default;
        for (uint i = dir.First; i < dir.First + dir.Count; i++)
        {
            int at = RecordOffset(RafsTable.Dirents, i);
            if (direntOwner[i] != 0)
                throw new RafsFormatException(at, $"dirent {i} is claimed by directories {direntOwner[i]} and {ino}");
            direntOwner[i] = ino;
            var dirent = GetDirent(i);
            var name = DirentName(i);
            if (name.Length == 0 || name.Length > RafsLayout.MaxNameLength || name.IndexOf((byte)'/') >= 0 || name.IndexOf((byte)0) >= 0
                || name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                throw new RafsFormatException(at, $"directory {ino}: invalid entry name '{Utf8(name)}'");
            if (!IsValidUtf8(name))
                throw new RafsFormatException(at, $"directory {ino}: entry name '{Utf8(name)}' is not valid UTF-8");
            if (i > dir.First && previous.SequenceCompareTo(name) >= 0)
                throw new RafsFormatException(at, $"directory {ino}: entries not in strict name order at '{Utf8(name)}'");
            if (dirent.Ino <= RafsLayout.RootInode || dirent.Ino > InodeCount)
                throw new RafsFormatException(at + 8, $"directory {ino}: entry '{Utf8(name)}' names inode {dirent.Ino}, out of range");
            var child = GetInode(dirent.Ino);
            if (child.IsDirectory && child.Parent != ino)
                throw new RafsFormatException(at + 8, $"directory {ino}: subdirectory '{Utf8(name)}' records parent {child.Parent}");
            previous = name;
        }
    }

    private void ValidateFileChunks(uint ino, RafsInode file)
    {
        CheckRange(RafsTable.ChunkRefs, file.First, file.Count, ino);
        ulong expectedOffset = 0;
        for (uint i = file.First; i < file.First + file.Count; i++)
        {
            var chunkRef = GetChunkRef(i);
            int at = RecordOffset(RafsTable.ChunkRefs, i);
            if (chunkRef.FileOffset != expectedOffset)
                throw new RafsFormatException(at, $"inode {ino}: chunk ref {i} starts at {chunkRef.FileOffset}, expected {expectedOffset}");
            expectedOffset += GetChunk(chunkRef.ChunkIndex).UncompressedSize;
        }
        if (expectedOffset != file.Size)
            throw new RafsFormatException(RecordOffset(RafsTable.Inodes, ino - 1), $"inode {ino}: chunks cover {expectedOffset} bytes, file size is {file.Size}");
    }

    /// <summary>Every directory but the root is reachable exactly once from the root, so walks terminate.</summary>
    private void CheckTreeIsConnected()
    {
        var seenDirectory = new bool[InodeCount + 1];
        var pending = new Stack<uint>();
        pending.Push(RafsLayout.RootInode);
        seenDirectory[RafsLayout.RootInode] = true;
        while (pending.Count > 0)
        {
            uint dir = pending.Pop();
            foreach (var (index, child) in ReadDirectory(dir))
            {
                if (!GetInode(child).IsDirectory)
                    continue;
                if (seenDirectory[child])
                    throw new RafsFormatException(RecordOffset(RafsTable.Dirents, index), $"directory {child} is reachable twice (a cycle or a directory hard link)");
                seenDirectory[child] = true;
                pending.Push(child);
            }
        }
    }
}
