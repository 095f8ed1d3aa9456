using System.Buffers.Text;
using System.Text;

namespace P2PDist.Conversion.Tar;

/// <summary>
/// A forward-only reader of POSIX tar (ustar with PAX extended headers, and GNU long names), written here
/// rather than taken from System.Formats.Tar because that reader decodes PAX values as text and so corrupts
/// binary extended attributes such as security.capability. Never seeks; never buffers an entry's data.
/// </summary>
public sealed class TarStreamReader
{
    private const int BlockSize = 512;
    private const int MaxMetadataRecord = 1 << 20;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly Stream _stream;
    private readonly byte[] _block = new byte[BlockSize];
    private long _position;
    private long _dataRemaining;
    private long _paddingRemaining;
    private Dictionary<string, byte[]> _globalPax = new(StringComparer.Ordinal);

    public TarStreamReader(Stream stream) => _stream = stream;

    /// <summary>The next entry, or null at the end of the archive. Unread data of the previous entry is skipped.</summary>
    public TarEntryHeader? Next()
    {
        SkipRemainingData();
        Dictionary<string, byte[]>? pax = null;
        string? longName = null, longLink = null;
        while (true)
        {
            long headerOffset = _position;
            if (!ReadBlock(allowEnd: true))
                return null; // a stream that ends on a block boundary without the two zero blocks: accept, as GNU tar does
            if (_block.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                return null;
            VerifyChecksum(headerOffset);
            byte type = _block[156];
            long size = ParseNumber(_block.AsSpan(124, 12), headerOffset, "size");
            if (size < 0)
                throw new TarFormatException(headerOffset, $"negative entry size {size}");
            switch (type)
            {
                case (byte)'x':
                    pax = ParsePax(ReadMetadata(size, headerOffset, "PAX header"), headerOffset);
                    continue;
                case (byte)'g':
                    _globalPax = ParsePax(ReadMetadata(size, headerOffset, "global PAX header"), headerOffset);
                    continue;
                case (byte)'L':
                    longName = CString(ReadMetadata(size, headerOffset, "GNU long name"), headerOffset, "GNU long name");
                    continue;
                case (byte)'K':
                    longLink = CString(ReadMetadata(size, headerOffset, "GNU long link name"), headerOffset, "GNU long link name");
                    continue;
            }
            return BuildEntry(type, size, headerOffset, pax, longName, longLink);
        }
    }

    /// <summary>Reads the current entry's data; returns 0 at its end. Fails if the archive ends inside the entry.</summary>
    public int ReadData(Span<byte> buffer)
    {
        if (_dataRemaining == 0)
            return 0;
        int want = (int)Math.Min(buffer.Length, _dataRemaining);
        int n = _stream.Read(buffer[..want]);
        if (n == 0)
            throw new TarFormatException(_position, $"archive truncated: {_dataRemaining} bytes of entry data missing");
        _position += n;
        _dataRemaining -= n;
        return n;
    }

    /// <summary>Fills <paramref name="buffer"/> from the entry's data as far as it goes; returns the count read.</summary>
    public int ReadDataFully(Span<byte> buffer)
    {
        int filled = 0;
        int n;
        while (filled < buffer.Length && (n = ReadData(buffer[filled..])) > 0)
            filled += n;
        return filled;
    }

    private TarEntryHeader BuildEntry(byte type, long size, long offset, Dictionary<string, byte[]>? pax, string? longName, string? longLink)
    {
        var merged = new Dictionary<string, byte[]>(_globalPax, StringComparer.Ordinal);
        if (pax is not null)
        {
            foreach (var (k, v) in pax)
                merged[k] = v;
        }
        string path = Text(merged, "path", offset) ?? longName ?? UstarName(offset);
        string link = Text(merged, "linkpath", offset) ?? longLink ?? CString(_block.AsSpan(157, 100), offset, "link name");
        if (Text(merged, "size", offset) is { } paxSize)
            size = long.TryParse(paxSize, out var s) && s >= 0 ? s : throw new TarFormatException(offset, $"entry '{path}': bad PAX size '{paxSize}'");
        if (merged.ContainsKey("GNU.sparse.major") || merged.ContainsKey("GNU.sparse.size") || type == (byte)'S')
            throw new TarFormatException(offset, $"entry '{path}': GNU sparse entries are not supported; write the file in full");

        var kind = type switch
        {
            (byte)'0' or 0 or (byte)'7' => TarEntryKind.Regular,
            (byte)'1' => TarEntryKind.HardLink,
            (byte)'2' => TarEntryKind.Symlink,
            (byte)'3' => TarEntryKind.CharDevice,
            (byte)'4' => TarEntryKind.BlockDevice,
            (byte)'5' => TarEntryKind.Directory,
            (byte)'6' => TarEntryKind.Fifo,
            _ => throw new TarFormatException(offset, $"entry '{path}': unsupported tar entry type '{(char)type}'"),
        };

        var (mtime, mtimeNs) = ParseMtime(Text(merged, "mtime", offset), ParseNumber(_block.AsSpan(136, 12), offset, "mtime"), offset, path);
        var xattrs = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (key, value) in merged)
        {
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                xattrs[key["SCHILY.xattr.".Length..]] = value;
            else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
                xattrs[Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..])] = LibarchiveValue(value, offset, key);
        }

        _dataRemaining = size;
        _paddingRemaining = (BlockSize - size % BlockSize) % BlockSize;
        return new TarEntryHeader
        {
            Path = path,
            Kind = kind,
            Mode = (uint)(ParseNumber(_block.AsSpan(100, 8), offset, "mode") & 0xFFF),
            Uid = (uint)(Text(merged, "uid", offset) is { } u ? ParseId(u, offset, path) : ParseNumber(_block.AsSpan(108, 8), offset, "uid")),
            Gid = (uint)(Text(merged, "gid", offset) is { } g ? ParseId(g, offset, path) : ParseNumber(_block.AsSpan(116, 8), offset, "gid")),
            Size = kind == TarEntryKind.Regular ? size : 0,
            MtimeSeconds = mtime,
            MtimeNanoseconds = mtimeNs,
            LinkName = link,
            DevMajor = (uint)ParseNumber(_block.AsSpan(329, 8), offset, "devmajor"),
            DevMinor = (uint)ParseNumber(_block.AsSpan(337, 8), offset, "devminor"),
            Xattrs = xattrs,
            Offset = offset,
        };
    }

    private string UstarName(long offset)
    {
        string name = CString(_block.AsSpan(0, 100), offset, "name");
        bool ustar = _block.AsSpan(257, 5).SequenceEqual("ustar"u8);
        string prefix = ustar ? CString(_block.AsSpan(345, 155), offset, "name prefix") : "";
        string path = prefix.Length > 0 ? prefix + "/" + name : name;
        if (path.Length == 0)
            throw new TarFormatException(offset, "entry with an empty name");
        return path;
    }

    private static long ParseId(string text, long offset, string path) =>
        long.TryParse(text, out var v) && v is >= 0 and <= uint.MaxValue ? v : throw new TarFormatException(offset, $"entry '{path}': bad PAX id '{text}'");

    private static (long, uint) ParseMtime(string? pax, long header, long offset, string path)
    {
        if (pax is null)
            return (header, 0);
        var parts = pax.Split('.');
        if (!long.TryParse(parts[0], out long seconds) || parts.Length > 2)
            throw new TarFormatException(offset, $"entry '{path}': bad PAX mtime '{pax}'");
        uint nanoseconds = 0;
        if (parts.Length == 2 && parts[1].Length > 0)
        {
            string digits = parts[1].Length > 9 ? parts[1][..9] : parts[1].PadRight(9, '0');
            if (!uint.TryParse(digits, out nanoseconds))
                throw new TarFormatException(offset, $"entry '{path}': bad PAX mtime '{pax}'");
        }
        return (seconds, nanoseconds);
    }

    private static string? Text(Dictionary<string, byte[]> pax, string key, long offset) =>
        pax.TryGetValue(key, out var value) ? Strict(value, offset, $"PAX {key}") : null;

    private static byte[] LibarchiveValue(byte[] value, long offset, string key)
    {
        try
        {
            return Convert.FromBase64String(Encoding.ASCII.GetString(value));
        }
        catch (FormatException)
        {
            throw new TarFormatException(offset, $"PAX record {key} is not base64");
        }
    }

    /// <summary>
    /// Names are decoded strictly: a lossy decode turns every invalid sequence into U+FFFD, so two different
    /// names could become one path in the image (review M9). Such a layer is refused instead.
    /// </summary>
    private static string Strict(ReadOnlySpan<byte> bytes, long offset, string what)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new TarFormatException(offset, $"{what} '{Encoding.UTF8.GetString(bytes)}' is not valid UTF-8");
        }
    }

    private static Dictionary<string, byte[]> ParsePax(byte[] data, long offset)
    {
        // Records are "LENGTH KEY=VALUE\n" where LENGTH counts the whole record; VALUE is raw bytes.
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        int at = 0;
        while (at < data.Length)
        {
            if (data[at] == 0)
                break;
            int space = Array.IndexOf(data, (byte)' ', at);
            if (space < 0 || !Utf8Parser.TryParse(data.AsSpan(at, space - at), out int length, out int used) || used != space - at
                || length <= space - at + 1 || at + length > data.Length || data[at + length - 1] != (byte)'\n')
                throw new TarFormatException(offset, $"malformed PAX record at byte {at} of the extended header");
            var body = data.AsSpan(space + 1, at + length - space - 2);
            int equals = body.IndexOf((byte)'=');
            if (equals <= 0)
                throw new TarFormatException(offset, $"PAX record without '=' at byte {at} of the extended header");
            records[Strict(body[..equals], offset, "PAX key")] = body[(equals + 1)..].ToArray();
            at += length;
        }
        return records;
    }

    private byte[] ReadMetadata(long size, long offset, string what)
    {
        if (size > MaxMetadataRecord)
            throw new TarFormatException(offset, $"{what} of {size} bytes is absurd (limit {MaxMetadataRecord})");
        var data = new byte[size];
        _dataRemaining = size;
        _paddingRemaining = (BlockSize - size % BlockSize) % BlockSize;
        ReadDataFully(data);
        SkipRemainingData();
        return data;
    }

    private void SkipRemainingData()
    {
        Span<byte> scratch = stackalloc byte[BlockSize];
        while (_dataRemaining > 0)
            ReadData(scratch);
        while (_paddingRemaining > 0)
        {
            int n = _stream.Read(scratch[..(int)_paddingRemaining]);
            if (n == 0)
                throw new TarFormatException(_position, "archive truncated inside the padding of an entry");
            _paddingRemaining -= n;
            _position += n;
        }
    }

    private bool ReadBlock(bool allowEnd)
    {
        int filled = 0;
        while (filled < BlockSize)
        {
            int n = _stream.Read(_block, filled, BlockSize - filled);
            if (n == 0)
            {
                if (filled == 0 && allowEnd)
                    return false;
                throw new TarFormatException(_position + filled, "archive truncated inside a header block");
            }
            filled += n;
        }
        _position += BlockSize;
        return true;
    }

    private void VerifyChecksum(long offset)
    {
        long stored = ParseNumber(_block.AsSpan(148, 8), offset, "checksum");
        long unsigned = 0;
        for (int i = 0; i < BlockSize; i++)
            unsigned += i is >= 148 and < 156 ? (byte)' ' : _block[i];
        if (stored != unsigned)
            throw new TarFormatException(offset, $"header checksum {stored} does not match its content ({unsigned}): not a tar stream, or corrupt");
    }

    /// <summary>Octal, NUL/space terminated; or GNU base-256 when the first byte has its high bit set.</summary>
    private static long ParseNumber(ReadOnlySpan<byte> field, long offset, string name)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x40) != 0)
                throw new TarFormatException(offset, $"negative base-256 {name}");
            long value = field[0] & 0x3F;
            for (int i = 1; i < field.Length; i++)
            {
                if (value > (long.MaxValue >> 8))
                    throw new TarFormatException(offset, $"base-256 {name} overflows");
                value = (value << 8) | field[i];
            }
            return value;
        }
        long result = 0;
        bool seenDigit = false;
        foreach (byte b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (seenDigit)
                    break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7')
                throw new TarFormatException(offset, $"bad octal digit in the {name} field");
            result = (result << 3) | (long)(b - '0');
            seenDigit = true;
        }
        return result;
    }

    private static string CString(ReadOnlySpan<byte> field, long offset, string what)
    {
        int end = field.IndexOf((byte)0);
        return Strict(end < 0 ? field : field[..end], offset, what);
    }
}
