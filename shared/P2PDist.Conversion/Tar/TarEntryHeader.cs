namespace P2PDist.Conversion.Tar;

/// <summary>The kinds of tar entry a layer may hold (POSIX ustar typeflag).</summary>
public enum TarEntryKind
{
    Regular,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Directory,
    Fifo,
}

/// <summary>One tar entry's metadata, after PAX and GNU long-name records have been folded in.</summary>
public sealed record TarEntryHeader
{
    public required string Path { get; init; }
    public required TarEntryKind Kind { get; init; }
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public long Size { get; init; }
    public long MtimeSeconds { get; init; }
    public uint MtimeNanoseconds { get; init; }
    public string LinkName { get; init; } = "";
    public uint DevMajor { get; init; }
    public uint DevMinor { get; init; }

    /// <summary>Extended attributes with their raw bytes (PAX SCHILY.xattr.* or LIBARCHIVE.xattr.*).</summary>
    public Dictionary<string, byte[]> Xattrs { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Byte offset of the entry's header in the uncompressed layer, for error messages.</summary>
    public long Offset { get; init; }
}
