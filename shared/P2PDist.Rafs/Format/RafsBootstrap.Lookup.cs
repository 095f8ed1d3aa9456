using System.Buffers.Binary;
using System.Text;

namespace P2PDist.Rafs;

// Lookups: path and name resolution over sorted directory entries, chunk resolution over a file's sorted
// chunk references. Both are binary searches, so neither needs the bootstrap decoded.
public sealed partial class RafsBootstrap
{
    /// <summary>The inode named <paramref name="name"/> in directory <paramref name="dirIno"/>, or 0 when there is none.</summary>
    public uint LookupChild(uint dirIno, ReadOnlySpan<byte> name)
    {
        var dir = GetInode(dirIno);
        if (!dir.IsDirectory)
            return 0;
        CheckRange(RafsTable.Dirents, dir.First, dir.Count, dirIno);
        uint low = dir.First, high = dir.First + dir.Count;
        while (low < high)
        {
            uint mid = low + (high - low) / 2;
            int order = DirentName(mid).SequenceCompareTo(name);
            if (order == 0)
                return GetDirent(mid).Ino;
            if (order < 0)
                low = mid + 1;
            else
                high = mid;
        }
        return 0;
    }

    /// <summary>Resolves an absolute or root-relative path without following symlinks; 0 when it does not exist.</summary>
    public uint LookupPath(string path)
    {
        uint ino = RafsLayout.RootInode;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
                continue;
            ino = part == ".." ? Math.Max(GetInode(ino).Parent, RafsLayout.RootInode) : LookupChild(ino, Encoding.UTF8.GetBytes(part));
            if (ino == 0)
                return 0;
        }
        return ino;
    }

    /// <summary>The directory's entries in name order: (dirent index, inode).</summary>
    public IEnumerable<(uint DirentIndex, uint Ino)> ReadDirectory(uint dirIno)
    {
        var dir = GetInode(dirIno);
        if (!dir.IsDirectory)
            yield break;
        CheckRange(RafsTable.Dirents, dir.First, dir.Count, dirIno);
        for (uint i = dir.First; i < dir.First + dir.Count; i++)
            yield return (i, GetDirent(i).Ino);
    }

    /// <summary>The range of a regular file's chunk references in the chunk-ref table.</summary>
    public (uint Start, uint Count) ChunkRefRange(uint ino)
    {
        var inode = GetInode(ino);
        if (!inode.IsRegular)
            return (0, 0);
        CheckRange(RafsTable.ChunkRefs, inode.First, inode.Count, ino);
        return (inode.First, inode.Count);
    }

    /// <summary>Index of the chunk reference that holds byte <paramref name="fileOffset"/> of the file, or -1 past its end.</summary>
    public long FindChunkRef(uint ino, ulong fileOffset)
    {
        var (start, count) = ChunkRefRange(ino);
        if (count == 0 || fileOffset >= GetInode(ino).Size)
            return -1;
        // Last reference whose file offset is <= fileOffset.
        uint low = start, high = start + count;
        while (high - low > 1)
        {
            uint mid = low + (high - low) / 2;
            if (GetChunkRef(mid).FileOffset <= fileOffset)
                low = mid;
            else
                high = mid;
        }
        return GetChunkRef(low).FileOffset <= fileOffset ? low : -1;
    }

    public string SymlinkTarget(uint ino)
    {
        var inode = GetInode(ino);
        if (!inode.IsSymlink)
            throw new RafsFormatException(RecordOffset(RafsTable.Inodes, ino - 1), $"inode {ino} is not a symlink");
        int at = RecordOffset(RafsTable.Inodes, ino - 1);
        return StrictText(String(inode.First, inode.Count, at), at + 52, $"inode {ino}: symlink target");
    }

    public IReadOnlyList<RafsXattr> Xattrs(uint ino)
    {
        var inode = GetInode(ino);
        if (inode.XattrCount == 0)
            return [];
        CheckRange(RafsTable.Xattrs, inode.XattrStart, inode.XattrCount, ino);
        var list = new RafsXattr[inode.XattrCount];
        for (uint i = 0; i < inode.XattrCount; i++)
        {
            int at = XattrBytes(inode.XattrStart + i, out var name, out var value);
            list[i] = new RafsXattr(StrictText(name, at, $"inode {ino}: xattr name"), value.ToArray());
        }
        return list;
    }

    /// <summary>The raw name and value of xattr record <paramref name="index"/>; returns the record's offset.</summary>
    private int XattrBytes(long index, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        var r = Record(RafsTable.Xattrs, index);
        int at = RecordOffset(RafsTable.Xattrs, index);
        name = String(BinaryPrimitives.ReadUInt32LittleEndian(r), BinaryPrimitives.ReadUInt16LittleEndian(r[4..]), at);
        value = String(BinaryPrimitives.ReadUInt32LittleEndian(r[8..]), BinaryPrimitives.ReadUInt32LittleEndian(r[12..]), at);
        return at;
    }

    /// <summary>
    /// Depth-first walk of the tree: (path, inode). Paths are root-relative without a leading slash. A path
    /// longer than PATH_MAX is refused: no tool can create or open it by name, and without the cap a deep
    /// tree of long names costs O(depth x name) per entry, quadratic in the bootstrap's size (review L4).
    /// </summary>
    public IEnumerable<(string Path, uint Ino)> Walk()
    {
        var stack = new Stack<(string Path, int PathBytes, uint Ino)>();
        stack.Push(("", 0, RafsLayout.RootInode));
        while (stack.Count > 0)
        {
            var (path, pathBytes, ino) = stack.Pop();
            yield return (path, ino);
            var dir = GetInode(ino);
            if (!dir.IsDirectory)
                continue;
            CheckRange(RafsTable.Dirents, dir.First, dir.Count, ino);
            for (uint i = dir.First + dir.Count; i-- > dir.First;)
            {
                var nameBytes = DirentName(i);
                int childBytes = pathBytes + (pathBytes == 0 ? 0 : 1) + nameBytes.Length;
                if (childBytes > RafsLayout.MaxPathLength)
                    throw new RafsFormatException(RecordOffset(RafsTable.Dirents, i),
                        $"path '{Truncated(path)}/{Utf8(nameBytes)}' is longer than {RafsLayout.MaxPathLength} bytes (PATH_MAX)");
                string name = StrictText(nameBytes, RecordOffset(RafsTable.Dirents, i), $"directory {ino}: entry name");
                stack.Push((pathBytes == 0 ? name : path + "/" + name, childBytes, GetDirent(i).Ino));
            }
        }
    }

    private static string Truncated(string path) => path.Length <= 200 ? path : path[..100] + "..." + path[^100..];
}
