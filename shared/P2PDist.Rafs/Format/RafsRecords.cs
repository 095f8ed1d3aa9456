namespace P2PDist.Rafs;

/// <summary>One inode of the bootstrap's inode table, decoded (RAFS-FORMAT.md, "Inode table").</summary>
public readonly record struct RafsInode(
    uint Ino,
    uint Mode,
    uint Uid,
    uint Gid,
    uint Nlink,
    ulong Size,
    long MtimeSeconds,
    uint MtimeNanoseconds,
    uint RdevMajor,
    uint RdevMinor,
    uint XattrStart,
    uint XattrCount,
    uint First,
    uint Count,
    uint Parent)
{
    public bool IsDirectory => PosixMode.IsDirectory(Mode);
    public bool IsRegular => PosixMode.IsRegular(Mode);
    public bool IsSymlink => PosixMode.IsSymlink(Mode);
}

/// <summary>A directory entry: a name in a directory and the inode it names.</summary>
public readonly record struct RafsDirent(uint NameOffset, ushort NameLength, uint Ino);

/// <summary>Where a file's bytes from <see cref="FileOffset"/> on are stored: an index into the chunk table.</summary>
public readonly record struct RafsChunkRef(ulong FileOffset, uint ChunkIndex);

/// <summary>A chunk stored once in a blob, shared by every file (and image) whose bytes it holds.</summary>
public readonly record struct RafsChunk(
    uint BlobIndex,
    ChunkCompression Compression,
    ulong CompressedOffset,
    uint CompressedSize,
    uint UncompressedSize,
    ChunkDigest Digest);

/// <summary>A data blob: the OCI blob digest (SHA-256 of its bytes), its size and how many chunks it holds.</summary>
public readonly record struct RafsBlob(string Digest, ulong Size, uint ChunkCount);

/// <summary>An extended attribute of an inode.</summary>
public readonly record struct RafsXattr(string Name, byte[] Value);
