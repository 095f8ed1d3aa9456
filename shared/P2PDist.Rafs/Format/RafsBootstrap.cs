using System.Buffers.Binary;

namespace P2PDist.Rafs;

/// <summary>
/// Read access to a Rafs v1 bootstrap without decoding it into objects: opening checks the header and the
/// table bounds only; every accessor decodes one record on demand and checks each index it follows, so a
/// malformed bootstrap gives a <see cref="RafsFormatException"/>, never an out-of-bounds read.
/// Lookups are binary searches over sorted tables: O(log n).
/// </summary>
public sealed partial class RafsBootstrap : IDisposable
{
    private readonly BootstrapMemory _memory;
    private readonly TableSpan[] _tables = new TableSpan[8];

    private readonly record struct TableSpan(int Offset, int Count, int RecordSize);

    private RafsBootstrap(BootstrapMemory memory)
    {
        _memory = memory;
        try
        {
            ReadHeader();
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    public static RafsBootstrap Open(string path) => new(BootstrapMemory.MapFile(path));

    public static RafsBootstrap FromBytes(byte[] bytes) => new(BootstrapMemory.FromArray(bytes));

    public DigestAlgorithm DigestAlgorithm { get; private set; }
    public uint ChunkSize { get; private set; }
    public int Length => _memory.Bytes.Length;
    public int InodeCount => _tables[(int)RafsTable.Inodes].Count;
    public int ChunkCount => _tables[(int)RafsTable.Chunks].Count;
    public int ChunkRefCount => _tables[(int)RafsTable.ChunkRefs].Count;
    public int BlobCount => _tables[(int)RafsTable.Blobs].Count;
    public int DirentCount => _tables[(int)RafsTable.Dirents].Count;
    public int PrefetchCount => _tables[(int)RafsTable.Prefetch].Count;
    public uint RootIno => RafsLayout.RootInode;

    private ReadOnlySpan<byte> Bytes => _memory.Bytes;

    private void ReadHeader()
    {
        var bytes = Bytes;
        if (bytes.Length < RafsLayout.HeaderSize)
            throw new RafsFormatException(bytes.Length, $"truncated: {bytes.Length} bytes, the header alone is {RafsLayout.HeaderSize}");
        if (!bytes[..8].SequenceEqual(RafsLayout.Magic))
            throw new RafsFormatException(0, "bad magic: this is not a P2PDist Rafs bootstrap");
        ushort major = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
        if (major != RafsLayout.MajorVersion)
            throw new RafsFormatException(8, $"unsupported major version {major} (this reader knows {RafsLayout.MajorVersion})");
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        if (headerSize != RafsLayout.HeaderSize)
            throw new RafsFormatException(12, $"header size {headerSize}, expected {RafsLayout.HeaderSize}");
        byte algorithm = bytes[16];
        if (algorithm is not ((byte)DigestAlgorithm.Blake3 or (byte)DigestAlgorithm.Sha256))
            throw new RafsFormatException(16, $"unknown digest algorithm {algorithm}");
        DigestAlgorithm = (DigestAlgorithm)algorithm;
        ChunkSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes[20..]);
        if (ChunkSize < 4096 || ChunkSize > 16 << 20 || (ChunkSize & (ChunkSize - 1)) != 0)
            throw new RafsFormatException(20, $"chunk size {ChunkSize} is not a power of two from 4 KiB to 16 MiB");
        ulong declaredLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]);
        if (declaredLength != (ulong)bytes.Length)
            throw new RafsFormatException(24, $"header says {declaredLength} bytes, the bootstrap has {bytes.Length} (truncated or padded)");

        for (int t = 0; t < _tables.Length; t++)
        {
            int at = RafsLayout.TableDescriptorOffset + t * RafsLayout.TableDescriptorSize;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]);
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(at + 8)..]);
            uint recordSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(at + 12)..]);
            var table = (RafsTable)t;
            if (recordSize != RafsLayout.RecordSize(table))
                throw new RafsFormatException(at + 12, $"{table} table record size {recordSize}, expected {RafsLayout.RecordSize(table)}");
            ulong end = offset + (ulong)count * recordSize;
            if (offset < RafsLayout.HeaderSize || offset % 8 != 0 || end > (ulong)bytes.Length || end < offset)
                throw new RafsFormatException(at, $"{table} table ({count} records at {offset}) lies outside the bootstrap");
            _tables[t] = new TableSpan((int)offset, (int)count, (int)recordSize);
        }
        if (InodeCount == 0)
            throw new RafsFormatException(RafsLayout.TableDescriptorOffset, "no inodes: the root directory is missing");
        if (!GetInode(RafsLayout.RootInode).IsDirectory)
            throw new RafsFormatException(_tables[0].Offset, "inode 1 (the root) is not a directory");
    }

    private ReadOnlySpan<byte> Record(RafsTable table, long index)
    {
        var t = _tables[(int)table];
        if (index < 0 || index >= t.Count)
            throw new RafsFormatException(t.Offset, $"{table} index {index} out of range (table has {t.Count})");
        return Bytes.Slice(t.Offset + (int)index * t.RecordSize, t.RecordSize);
    }

    private int RecordOffset(RafsTable table, long index) => _tables[(int)table].Offset + (int)index * _tables[(int)table].RecordSize;

    /// <summary>Checks that [start, start+count) lies within a table, so that a range taken from a record is safe to walk.</summary>
    private void CheckRange(RafsTable table, uint start, uint count, uint ownerIno)
    {
        if ((ulong)start + count > (ulong)_tables[(int)table].Count)
            throw new RafsFormatException(RecordOffset(RafsTable.Inodes, ownerIno - 1),
                $"inode {ownerIno}: {table} range {start}+{count} exceeds the table ({_tables[(int)table].Count} records)");
    }

    internal ReadOnlySpan<byte> String(uint offset, uint length, long ownerOffset)
    {
        var t = _tables[(int)RafsTable.Strings];
        if ((ulong)offset + length > (ulong)t.Count)
            throw new RafsFormatException(ownerOffset, $"string {offset}+{length} exceeds the string table ({t.Count} bytes)");
        return Bytes.Slice(t.Offset + (int)offset, (int)length);
    }

    public RafsInode GetInode(uint ino)
    {
        var r = Record(RafsTable.Inodes, (long)ino - 1);
        return new RafsInode(
            ino,
            Mode: BinaryPrimitives.ReadUInt32LittleEndian(r),
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(r[4..]),
            Gid: BinaryPrimitives.ReadUInt32LittleEndian(r[8..]),
            Nlink: BinaryPrimitives.ReadUInt32LittleEndian(r[12..]),
            Size: BinaryPrimitives.ReadUInt64LittleEndian(r[16..]),
            MtimeSeconds: BinaryPrimitives.ReadInt64LittleEndian(r[24..]),
            MtimeNanoseconds: BinaryPrimitives.ReadUInt32LittleEndian(r[32..]),
            RdevMajor: BinaryPrimitives.ReadUInt32LittleEndian(r[36..]),
            RdevMinor: BinaryPrimitives.ReadUInt32LittleEndian(r[40..]),
            XattrStart: BinaryPrimitives.ReadUInt32LittleEndian(r[44..]),
            XattrCount: BinaryPrimitives.ReadUInt32LittleEndian(r[48..]),
            First: BinaryPrimitives.ReadUInt32LittleEndian(r[52..]),
            Count: BinaryPrimitives.ReadUInt32LittleEndian(r[56..]),
            Parent: BinaryPrimitives.ReadUInt32LittleEndian(r[60..]));
    }

    public RafsDirent GetDirent(uint index)
    {
        var r = Record(RafsTable.Dirents, index);
        return new RafsDirent(
            BinaryPrimitives.ReadUInt32LittleEndian(r),
            BinaryPrimitives.ReadUInt16LittleEndian(r[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(r[8..]));
    }

    public ReadOnlySpan<byte> DirentName(uint index)
    {
        var d = GetDirent(index);
        return String(d.NameOffset, d.NameLength, RecordOffset(RafsTable.Dirents, index));
    }

    public RafsChunkRef GetChunkRef(uint index)
    {
        var r = Record(RafsTable.ChunkRefs, index);
        return new RafsChunkRef(BinaryPrimitives.ReadUInt64LittleEndian(r), BinaryPrimitives.ReadUInt32LittleEndian(r[8..]));
    }

    public RafsChunk GetChunk(uint index)
    {
        var r = Record(RafsTable.Chunks, index);
        return new RafsChunk(
            BlobIndex: BinaryPrimitives.ReadUInt32LittleEndian(r),
            Compression: (ChunkCompression)r[4],
            CompressedOffset: BinaryPrimitives.ReadUInt64LittleEndian(r[8..]),
            CompressedSize: BinaryPrimitives.ReadUInt32LittleEndian(r[16..]),
            UncompressedSize: BinaryPrimitives.ReadUInt32LittleEndian(r[20..]),
            Digest: new ChunkDigest(DigestAlgorithm, r.Slice(32, DigestBytes.Length)));
    }

    /// <summary>A chunk's uncompressed size alone: the read path's bounds check, without decoding the digest.</summary>
    public uint GetChunkUncompressedSize(uint index) => BinaryPrimitives.ReadUInt32LittleEndian(Record(RafsTable.Chunks, index)[20..]);

    public RafsBlob GetBlob(uint index)
    {
        var r = Record(RafsTable.Blobs, index);
        return new RafsBlob(
            "sha256:" + Convert.ToHexStringLower(r[..32]),
            BinaryPrimitives.ReadUInt64LittleEndian(r[32..]),
            BinaryPrimitives.ReadUInt32LittleEndian(r[40..]));
    }

    public uint GetPrefetchIno(uint index) => BinaryPrimitives.ReadUInt32LittleEndian(Record(RafsTable.Prefetch, index));

    public IReadOnlyList<RafsBlob> Blobs()
    {
        var blobs = new RafsBlob[BlobCount];
        for (uint i = 0; i < blobs.Length; i++)
            blobs[i] = GetBlob(i);
        return blobs;
    }

    public void Dispose() => _memory.Dispose();
}
