namespace P2PDist.Peer.Fuse;

/// <summary>Attributes of one inode as the kernel wants them (struct fuse_attr).</summary>
internal readonly record struct FuseAttributes(
    ulong Ino, ulong Size, long MtimeSeconds, uint MtimeNanoseconds, uint Mode, uint Nlink, uint Uid, uint Gid, uint Rdev);

/// <summary>Receives one directory entry; returns false when the reply has no room for it.</summary>
internal delegate bool DirectoryEntrySink(ulong ino, ReadOnlySpan<byte> name, in FuseAttributes attributes);

/// <summary>
/// What the FUSE session asks of a read-only file system. Node ids are the file system's inode numbers
/// (1 is the root). Methods return 0 or an errno; the session turns that into the reply.
/// </summary>
internal interface IFuseFileSystem
{
    int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseAttributes attributes);
    int GetAttributes(ulong node, out FuseAttributes attributes);
    int ReadLink(ulong node, FuseReply reply);
    /// <summary>Opens a file; may offer a backing file for FUSE passthrough (the session closes it).</summary>
    int Open(ulong node, uint flags, bool passthroughAvailable, out Microsoft.Win32.SafeHandles.SafeFileHandle? backingFile);

    /// <summary>The last close of a file opened with <see cref="Open"/> (FUSE_RELEASE).</summary>
    void Release(ulong node);

    /// <summary>Reads into <paramref name="destination"/>; returns bytes read or a negative errno. May block on a fetch; honours the token.</summary>
    int Read(ulong node, ulong offset, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Directory entries from <paramref name="index"/> on ("." and ".." first); the callback returns false when the reply is full.</summary>
    int ReadDirectory(ulong node, ulong index, DirectoryEntrySink emit);

    int GetXattr(ulong node, ReadOnlySpan<byte> name, out byte[] value);
    int ListXattrs(ulong node, out byte[] names);
    (ulong Blocks, ulong Files) StatFs();
}
