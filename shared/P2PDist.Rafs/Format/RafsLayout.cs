namespace P2PDist.Rafs;

/// <summary>
/// Sizes and offsets of the Rafs v1 bootstrap (shared/RAFS-FORMAT.md). Every integer is little-endian and
/// every table starts on an 8-byte boundary, so a reader can use the file mapped into memory as it is.
/// </summary>
internal static class RafsLayout
{
    public static ReadOnlySpan<byte> Magic => "P2PRAFS\0"u8;
    public const ushort MajorVersion = 1;
    public const ushort MinorVersion = 0;
    public const int HeaderSize = 256;
    public const int TableDescriptorOffset = 32;
    public const int TableDescriptorSize = 16;
    public const int RootInodeOffset = 160;
    public const uint RootInode = 1;
    public const int MaxNameLength = 255;

    /// <summary>PATH_MAX minus its NUL: the longest symlink target Linux stores, and the longest path a walk builds.</summary>
    public const int MaxPathLength = 4095;

    /// <summary>XATTR_NAME_MAX and XATTR_SIZE_MAX of linux/limits.h: what setxattr(2) accepts at most.</summary>
    public const int MaxXattrNameLength = 255;
    public const int MaxXattrValueLength = 65536;

    public const int InodeRecordSize = 64;
    public const int DirentRecordSize = 16;
    public const int ChunkRefRecordSize = 16;
    public const int ChunkRecordSize = 64;
    public const int BlobRecordSize = 48;
    public const int XattrRecordSize = 16;
    public const int PrefetchRecordSize = 4;
    public const int StringRecordSize = 1;

    public static int RecordSize(RafsTable table) => table switch
    {
        RafsTable.Inodes => InodeRecordSize,
        RafsTable.Dirents => DirentRecordSize,
        RafsTable.ChunkRefs => ChunkRefRecordSize,
        RafsTable.Chunks => ChunkRecordSize,
        RafsTable.Blobs => BlobRecordSize,
        RafsTable.Xattrs => XattrRecordSize,
        RafsTable.Prefetch => PrefetchRecordSize,
        RafsTable.Strings => StringRecordSize,
        _ => throw new ArgumentOutOfRangeException(nameof(table)),
    };

    public static long Align8(long value) => (value + 7) & ~7L;
}

/// <summary>The tables of a bootstrap, in the order of their descriptors in the header.</summary>
internal enum RafsTable
{
    Inodes = 0,
    Dirents = 1,
    ChunkRefs = 2,
    Chunks = 3,
    Blobs = 4,
    Xattrs = 5,
    Prefetch = 6,
    Strings = 7,
}

/// <summary>POSIX file type bits of st_mode.</summary>
public static class PosixMode
{
    public const uint TypeMask = 0xF000;
    public const uint Fifo = 0x1000;
    public const uint CharDevice = 0x2000;
    public const uint Directory = 0x4000;
    public const uint BlockDevice = 0x6000;
    public const uint Regular = 0x8000;
    public const uint Symlink = 0xA000;
    public const uint Socket = 0xC000;
    public const uint PermissionMask = 0xFFF;

    public static bool IsDirectory(uint mode) => (mode & TypeMask) == Directory;
    public static bool IsRegular(uint mode) => (mode & TypeMask) == Regular;
    public static bool IsSymlink(uint mode) => (mode & TypeMask) == Symlink;
    public static bool IsDevice(uint mode) => (mode & TypeMask) is CharDevice or BlockDevice;

    public static bool IsKnownType(uint mode) =>
        (mode & TypeMask) is Fifo or CharDevice or Directory or BlockDevice or Regular or Symlink or Socket;

    public static char TypeLetter(uint mode) => (mode & TypeMask) switch
    {
        Fifo => 'p',
        CharDevice => 'c',
        Directory => 'd',
        BlockDevice => 'b',
        Regular => '-',
        Symlink => 'l',
        Socket => 's',
        _ => '?',
    };
}
