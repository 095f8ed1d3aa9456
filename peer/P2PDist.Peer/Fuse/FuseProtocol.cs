namespace P2PDist.Peer.Fuse;

/// <summary>Constants of the Linux FUSE kernel ABI (include/uapi/linux/fuse.h, protocol 7.38 as spoken here).</summary>
internal static class FuseProtocol
{
    public const uint KernelMajor = 7;
    public const uint OurMinor = 38;
    public const int InHeaderSize = 40;
    public const int OutHeaderSize = 16;
    public const int AttrSize = 88;
    public const int EntryOutSize = 40 + AttrSize;
    public const int AttrOutSize = 16 + AttrSize;
    public const int InitOutSize = 64;
    public const int OpenOutSize = 16;
    public const int KstatfsSize = 80;
    public const int DirentHeaderSize = 24;

    /// <summary>The image never changes, so names and attributes may be cached by the kernel for a day.</summary>
    public const ulong CacheSeconds = 86_400;

    public const uint AsyncRead = 1 << 0;
    public const uint DoReaddirplus = 1 << 13;
    public const uint ReaddirplusAuto = 1 << 14;
    public const uint ParallelDirops = 1 << 18;
    public const uint MaxPages = 1 << 22;
    public const uint CacheSymlinks = 1 << 23;

    public const uint InitExt = 1u << 30;
    /// <summary>FUSE_PASSTHROUGH is bit 37 of the 64-bit flags: bit 5 of flags2 (protocol 7.40).</summary>
    public const uint Flags2Passthrough = 1u << (37 - 32);
    public const uint FuseDevIocBackingOpen = 0x4010E501;
    public const uint FuseDevIocBackingClose = 0x4004E502;

    public const uint FopenKeepCache = 1 << 1;
    public const uint FopenPassthrough = 1 << 7;
    public const uint FopenCacheDir = 1 << 3;

    public const ushort MaxPagesValue = 256;
    public const int MaxReadBytes = MaxPagesValue * 4096;
}

internal enum FuseOpcode : uint
{
    Lookup = 1, Forget = 2, Getattr = 3, Setattr = 4, Readlink = 5, Symlink = 6, Mknod = 8, Mkdir = 9,
    Unlink = 10, Rmdir = 11, Rename = 12, Link = 13, Open = 14, Read = 15, Write = 16, Statfs = 17,
    Release = 18, Fsync = 20, Setxattr = 21, Getxattr = 22, Listxattr = 23, Removexattr = 24, Flush = 25,
    Init = 26, Opendir = 27, Readdir = 28, Releasedir = 29, Fsyncdir = 30, Access = 34, Create = 35,
    Interrupt = 36, Destroy = 38, BatchForget = 42, Fallocate = 43, Readdirplus = 44, Rename2 = 45,
    CopyFileRange = 47, Tmpfile = 51,
}

/// <summary>errno values the file system answers with (negated in the reply header).</summary>
internal static class Errno
{
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int ENODEV = 19;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int EROFS = 30;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int ENODATA = 61;
}
