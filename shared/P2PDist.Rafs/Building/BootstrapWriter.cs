using System.Buffers.Binary;
using System.Text;

namespace P2PDist.Rafs;

/// <summary>
/// Serialises a merged tree and its chunk table into a Rafs v1 bootstrap (shared/RAFS-FORMAT.md).
/// Inodes are numbered breadth-first from the root (1), so each directory's entries are one contiguous,
/// name-sorted run of the dirent table and each file's chunk references one contiguous run.
/// </summary>
public sealed class BootstrapWriter
{
    private readonly DigestAlgorithm _algorithm;
    private readonly uint _chunkSize;

    public BootstrapWriter(DigestAlgorithm algorithm, uint chunkSize)
    {
        _algorithm = algorithm;
        _chunkSize = chunkSize;
    }

    private sealed class StringTable
    {
        private readonly Dictionary<string, uint> _offsets = new(StringComparer.Ordinal);
        public MemoryStream Bytes { get; } = new();

        public (uint Offset, uint Length) Add(string text) => Add(Encoding.UTF8.GetBytes(text), text);

        public (uint Offset, uint Length) Add(byte[] bytes, string? key = null)
        {
            if (key is not null && _offsets.TryGetValue(key, out uint known))
                return (known, (uint)bytes.Length);
            uint offset = (uint)Bytes.Length;
            Bytes.Write(bytes);
            if (key is not null)
                _offsets[key] = offset;
            return (offset, (uint)bytes.Length);
        }
    }

    public byte[] Write(TreeNode root, ChunkTableBuilder chunks, IReadOnlyList<string> prefetchPaths)
    {
        if (!root.IsDirectory)
            throw new ArgumentException("the root must be a directory", nameof(root));

        // Breadth-first numbering; a hard-linked node keeps the first number it was given.
        var order = new List<(TreeNode Node, uint Parent)>();
        var numbers = new Dictionary<TreeNode, uint>(ReferenceEqualityComparer.Instance);
        var links = new Dictionary<TreeNode, uint>(ReferenceEqualityComparer.Instance);
        var sortedChildren = new Dictionary<TreeNode, List<(byte[] Name, TreeNode Child)>>(ReferenceEqualityComparer.Instance);
        numbers[root] = 1;
        order.Add((root, 1));
        for (int i = 0; i < order.Count; i++)
        {
            var (node, _) = order[i];
            if (!node.IsDirectory)
                continue;
            var children = (node.Children ?? []).Select(kv => (Name: Encoding.UTF8.GetBytes(kv.Key), Child: kv.Value)).ToList();
            children.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
            sortedChildren[node] = children;
            foreach (var (name, child) in children)
            {
                if (name.Length > RafsLayout.MaxNameLength)
                    throw new P2PDistException($"name longer than {RafsLayout.MaxNameLength} bytes: '{Encoding.UTF8.GetString(name)}'");
                links[child] = links.GetValueOrDefault(child) + 1;
                if (numbers.ContainsKey(child))
                    continue;
                numbers[child] = (uint)order.Count + 1;
                order.Add((child, numbers[node]));
            }
        }

        var strings = new StringTable();
        var inodes = new byte[order.Count * RafsLayout.InodeRecordSize];
        var dirents = new MemoryStream();
        var direntRecord = new byte[RafsLayout.DirentRecordSize];
        var chunkRefRecord = new byte[RafsLayout.ChunkRefRecordSize];
        var xattrRecord = new byte[RafsLayout.XattrRecordSize];
        var inoRecord = new byte[RafsLayout.PrefetchRecordSize];
        var chunkRefs = new MemoryStream();
        var xattrs = new MemoryStream();
        uint direntCount = 0, chunkRefCount = 0, xattrCount = 0;

        for (int i = 0; i < order.Count; i++)
        {
            var (node, parent) = order[i];
            uint first = 0, count = 0, xattrStart = xattrCount;
            uint nlink = links.GetValueOrDefault(node, 1u);
            if (node.IsDirectory)
            {
                var children = sortedChildren[node];
                first = direntCount;
                count = (uint)children.Count;
                nlink = 2 + (uint)children.Count(c => c.Child.IsDirectory);
                foreach (var (name, child) in children)
                {
                    var (offset, length) = strings.Add(name);
                    Array.Clear(direntRecord);
                    BinaryPrimitives.WriteUInt32LittleEndian(direntRecord, offset);
                    BinaryPrimitives.WriteUInt16LittleEndian(direntRecord.AsSpan(4), (ushort)length);
                    BinaryPrimitives.WriteUInt32LittleEndian(direntRecord.AsSpan(8), numbers[child]);
                    dirents.Write(direntRecord);
                    direntCount++;
                }
            }
            else if (PosixMode.IsRegular(node.Mode))
            {
                first = chunkRefCount;
                count = (uint)node.Chunks.Count;
                ulong fileOffset = 0;
                var record = chunkRefRecord.AsSpan();
                foreach (uint chunkIndex in node.Chunks)
                {
                    record.Clear();
                    BinaryPrimitives.WriteUInt64LittleEndian(record, fileOffset);
                    BinaryPrimitives.WriteUInt32LittleEndian(record[8..], chunkIndex);
                    chunkRefs.Write(record);
                    fileOffset += chunks.Chunks[(int)chunkIndex].UncompressedSize;
                    chunkRefCount++;
                }
                if (fileOffset != node.Size)
                    throw new InvalidOperationException($"inode {i + 1}: chunks cover {fileOffset} bytes of {node.Size}");
            }
            else if (PosixMode.IsSymlink(node.Mode))
            {
                (first, count) = strings.Add(node.SymlinkTarget ?? "");
            }

            foreach (var (name, value) in node.Xattrs)
            {
                Array.Clear(xattrRecord);
                var (nameOffset, nameLength) = strings.Add(name);
                var (valueOffset, valueLength) = strings.Add(value);
                BinaryPrimitives.WriteUInt32LittleEndian(xattrRecord, nameOffset);
                BinaryPrimitives.WriteUInt16LittleEndian(xattrRecord.AsSpan(4), (ushort)nameLength);
                BinaryPrimitives.WriteUInt32LittleEndian(xattrRecord.AsSpan(8), valueOffset);
                BinaryPrimitives.WriteUInt32LittleEndian(xattrRecord.AsSpan(12), valueLength);
                xattrs.Write(xattrRecord);
                xattrCount++;
            }

            var r = inodes.AsSpan(i * RafsLayout.InodeRecordSize, RafsLayout.InodeRecordSize);
            BinaryPrimitives.WriteUInt32LittleEndian(r, node.Mode);
            BinaryPrimitives.WriteUInt32LittleEndian(r[4..], node.Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(r[8..], node.Gid);
            BinaryPrimitives.WriteUInt32LittleEndian(r[12..], nlink);
            BinaryPrimitives.WriteUInt64LittleEndian(r[16..], node.IsDirectory ? 4096UL : PosixMode.IsSymlink(node.Mode) ? count : node.Size);
            BinaryPrimitives.WriteInt64LittleEndian(r[24..], node.MtimeSeconds);
            BinaryPrimitives.WriteUInt32LittleEndian(r[32..], node.MtimeNanoseconds);
            BinaryPrimitives.WriteUInt32LittleEndian(r[36..], node.RdevMajor);
            BinaryPrimitives.WriteUInt32LittleEndian(r[40..], node.RdevMinor);
            BinaryPrimitives.WriteUInt32LittleEndian(r[44..], node.Xattrs.Count == 0 ? 0 : xattrStart);
            BinaryPrimitives.WriteUInt32LittleEndian(r[48..], (uint)node.Xattrs.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(r[52..], first);
            BinaryPrimitives.WriteUInt32LittleEndian(r[56..], count);
            BinaryPrimitives.WriteUInt32LittleEndian(r[60..], node.IsDirectory ? parent : 0);
        }

        var prefetch = new MemoryStream();
        foreach (var path in prefetchPaths)
        {
            var node = Resolve(root, path) ?? throw new P2PDistException($"prefetch list names '{path}', which is not in the image");
            BinaryPrimitives.WriteUInt32LittleEndian(inoRecord, numbers[node]);
            prefetch.Write(inoRecord);
        }

        return Assemble(inodes, dirents, chunkRefs, chunks, xattrs, prefetch, strings.Bytes);
    }

    private static TreeNode? Resolve(TreeNode root, string path)
    {
        var node = root;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out var next))
                return null;
            node = next;
        }
        return node;
    }

    private byte[] Assemble(byte[] inodes, MemoryStream dirents, MemoryStream chunkRefs, ChunkTableBuilder chunks,
        MemoryStream xattrs, MemoryStream prefetch, MemoryStream strings)
    {
        var chunkTable = new byte[chunks.Chunks.Count * RafsLayout.ChunkRecordSize];
        for (int i = 0; i < chunks.Chunks.Count; i++)
        {
            var c = chunks.Chunks[i];
            var r = chunkTable.AsSpan(i * RafsLayout.ChunkRecordSize, RafsLayout.ChunkRecordSize);
            BinaryPrimitives.WriteUInt32LittleEndian(r, c.BlobIndex);
            r[4] = (byte)c.Compression;
            BinaryPrimitives.WriteUInt64LittleEndian(r[8..], c.CompressedOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(r[16..], c.CompressedSize);
            BinaryPrimitives.WriteUInt32LittleEndian(r[20..], c.UncompressedSize);
            c.Digest.Bytes.CopyTo(r[32..]);
        }
        var blobTable = new byte[chunks.Blobs.Count * RafsLayout.BlobRecordSize];
        for (int i = 0; i < chunks.Blobs.Count; i++)
        {
            var b = chunks.Blobs[i];
            var r = blobTable.AsSpan(i * RafsLayout.BlobRecordSize, RafsLayout.BlobRecordSize);
            Convert.FromHexString(b.Digest.AsSpan("sha256:".Length)).CopyTo(r);
            BinaryPrimitives.WriteUInt64LittleEndian(r[32..], b.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(r[40..], b.ChunkCount);
        }

        var tables = new (byte[] Bytes, int Count)[]
        {
            (inodes, inodes.Length / RafsLayout.InodeRecordSize),
            (dirents.ToArray(), (int)(dirents.Length / RafsLayout.DirentRecordSize)),
            (chunkRefs.ToArray(), (int)(chunkRefs.Length / RafsLayout.ChunkRefRecordSize)),
            (chunkTable, chunks.Chunks.Count),
            (blobTable, chunks.Blobs.Count),
            (xattrs.ToArray(), (int)(xattrs.Length / RafsLayout.XattrRecordSize)),
            (prefetch.ToArray(), (int)(prefetch.Length / RafsLayout.PrefetchRecordSize)),
            (strings.ToArray(), (int)strings.Length),
        };
        long length = RafsLayout.HeaderSize;
        var offsets = new long[tables.Length];
        for (int t = 0; t < tables.Length; t++)
        {
            offsets[t] = length;
            length = RafsLayout.Align8(length + tables[t].Bytes.Length);
        }
        if (length > BootstrapMemory.MaxLength)
            throw new P2PDistException($"the bootstrap would be {length} bytes, over the 2 GiB limit of Rafs v1");

        var output = new byte[length];
        var header = output.AsSpan(0, RafsLayout.HeaderSize);
        RafsLayout.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], RafsLayout.MajorVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], RafsLayout.MinorVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], RafsLayout.HeaderSize);
        header[16] = (byte)_algorithm;
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], _chunkSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], (ulong)length);
        for (int t = 0; t < tables.Length; t++)
        {
            var d = header[(RafsLayout.TableDescriptorOffset + t * RafsLayout.TableDescriptorSize)..];
            BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)offsets[t]);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], (uint)tables[t].Count);
            BinaryPrimitives.WriteUInt32LittleEndian(d[12..], (uint)RafsLayout.RecordSize((RafsTable)t));
            tables[t].Bytes.CopyTo(output.AsSpan((int)offsets[t]));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(header[RafsLayout.RootInodeOffset..], RafsLayout.RootInode);
        return output;
    }
}
