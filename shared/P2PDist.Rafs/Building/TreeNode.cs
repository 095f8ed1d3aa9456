namespace P2PDist.Rafs;

/// <summary>
/// A mutable file-system node used while an image is being built (the merged tree of all layers). Hard links
/// are several directory entries holding the same <see cref="TreeNode"/>; the writer turns each node into
/// one inode and counts its links.
/// </summary>
public sealed class TreeNode
{
    public TreeNode(uint mode) => Mode = mode;

    public uint Mode { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public long MtimeSeconds { get; set; }
    public uint MtimeNanoseconds { get; set; }
    public ulong Size { get; set; }
    public uint RdevMajor { get; set; }
    public uint RdevMinor { get; set; }
    public string? SymlinkTarget { get; set; }
    public SortedDictionary<string, byte[]> Xattrs { get; } = new(StringComparer.Ordinal);

    /// <summary>Chunk-table indices of a regular file's chunks, in file order.</summary>
    public List<uint> Chunks { get; } = [];

    /// <summary>Children of a directory by name; null for anything else.</summary>
    public Dictionary<string, TreeNode>? Children { get; private set; }

    public bool IsDirectory => PosixMode.IsDirectory(Mode);

    public static TreeNode NewDirectory(uint permissions = 0x1ED /* 0755 */)
    {
        var node = new TreeNode(PosixMode.Directory | permissions);
        node.Children = new Dictionary<string, TreeNode>(StringComparer.Ordinal);
        return node;
    }

    /// <summary>Turns this node into a directory in place (a later layer may replace a file with a directory).</summary>
    public void EnsureChildren() => Children ??= new Dictionary<string, TreeNode>(StringComparer.Ordinal);

    public void CopyAttributesFrom(TreeNode other)
    {
        Mode = other.Mode;
        Uid = other.Uid;
        Gid = other.Gid;
        MtimeSeconds = other.MtimeSeconds;
        MtimeNanoseconds = other.MtimeNanoseconds;
    }
}
