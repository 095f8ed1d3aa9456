using System.Text;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Writes tar layers for test images: ustar headers with PAX records for long or non-ASCII names, binary
/// xattrs (SCHILY.xattr), sub-second mtimes and large sizes. Independent of the product's reader on purpose.
/// </summary>
public sealed class TestTarWriter(Stream output)
{
    private readonly byte[] _zeros = new byte[512];

    public void Directory(string path, int mode = 0x1ED, int uid = 0, int gid = 0, Dictionary<string, byte[]>? xattrs = null, long mtime = 1_700_000_000) =>
        Entry(path.TrimEnd('/') + "/", '5', mode, uid, gid, 0, "", xattrs, mtime);

    public void File(string path, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, Dictionary<string, byte[]>? xattrs = null, long mtime = 1_700_000_000, uint mtimeNs = 0)
    {
        Entry(path, '0', mode, uid, gid, content.Length, "", xattrs, mtime, mtimeNs);
        output.Write(content);
        Pad(content.Length);
    }

    /// <summary>A file of <paramref name="size"/> bytes produced by <paramref name="fill"/> in pieces, for files too big to hold.</summary>
    public void LargeFile(string path, long size, Action<Stream, long> fill, int mode = 0x1A4)
    {
        Entry(path, '0', mode, 0, 0, size, "", null, 1_700_000_000);
        fill(output, size);
        Pad(size);
    }

    public void Symlink(string path, string target, int uid = 0, int gid = 0) => Entry(path, '2', 0x1FF, uid, gid, 0, target, null, 1_700_000_000);

    public void HardLink(string path, string target) => Entry(path, '1', 0x1A4, 0, 0, 0, target, null, 1_700_000_000);

    public void CharDevice(string path, int major, int minor) => Entry(path, '3', 0x1B6, 0, 0, 0, "", null, 1_700_000_000, 0, major, minor);

    public void BlockDevice(string path, int major, int minor) => Entry(path, '4', 0x1B0, 0, 0, 0, "", null, 1_700_000_000, 0, major, minor);

    public void Fifo(string path) => Entry(path, '6', 0x1A4, 0, 0, 0, "", null, 1_700_000_000);

    /// <summary>Raw header bytes for malformed-input tests.</summary>
    public void RawEntry(string path, char type, long size, string link = "") => Entry(path, type, 0x1A4, 0, 0, size, link, null, 1_700_000_000);

    public void Finish()
    {
        output.Write(_zeros);
        output.Write(_zeros);
    }

    private void Entry(string path, char type, int mode, int uid, int gid, long size, string link, Dictionary<string, byte[]>? xattrs, long mtime,
        uint mtimeNs = 0, int major = 0, int minor = 0)
    {
        var pax = new List<(string, byte[])>();
        if (Encoding.UTF8.GetByteCount(path) > 99 || path.Any(c => c > 127))
            pax.Add(("path", Encoding.UTF8.GetBytes(path)));
        if (Encoding.UTF8.GetByteCount(link) > 99 || link.Any(c => c > 127))
            pax.Add(("linkpath", Encoding.UTF8.GetBytes(link)));
        if (size > 0x1FFFFFFFF)
            pax.Add(("size", Encoding.ASCII.GetBytes(size.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        if (mtimeNs != 0)
            pax.Add(("mtime", Encoding.ASCII.GetBytes($"{mtime}.{mtimeNs:D9}")));
        foreach (var (k, v) in xattrs ?? [])
            pax.Add(("SCHILY.xattr." + k, v));
        if (pax.Count > 0)
        {
            var body = new MemoryStream();
            foreach (var (key, value) in pax)
                body.Write(PaxRecord(key, value));
            WriteHeader("PaxHeader", 'x', 0x1A4, 0, 0, body.Length, "", 0, 0, 0);
            output.Write(body.ToArray());
            Pad(body.Length);
        }
        WriteHeader(path, type, mode, uid, gid, Math.Min(size, 0x1FFFFFFFF), link, mtime, major, minor);
    }

    private static byte[] PaxRecord(string key, byte[] value)
    {
        int baseLength = Encoding.UTF8.GetByteCount(key) + value.Length + 3; // ' ', '=', '\n'
        int length = baseLength + 1;
        while (length != baseLength + length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length)
            length = baseLength + length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        var record = new MemoryStream();
        record.Write(Encoding.ASCII.GetBytes($"{length} {key}="));
        record.Write(value);
        record.WriteByte((byte)'\n');
        return record.ToArray();
    }

    private void WriteHeader(string path, char type, int mode, int uid, int gid, long size, string link, long mtime, int major, int minor)
    {
        var h = new byte[512];
        Put(h, 0, 100, TruncateUtf8(path, 99));
        Octal(h, 100, 8, mode);
        Octal(h, 108, 8, uid);
        Octal(h, 116, 8, gid);
        Octal(h, 124, 12, size);
        Octal(h, 136, 12, mtime);
        h[156] = (byte)type;
        Put(h, 157, 100, TruncateUtf8(link, 99));
        Put(h, 257, 6, "ustar\0"u8.ToArray());
        Put(h, 263, 2, "00"u8.ToArray());
        Octal(h, 329, 8, major);
        Octal(h, 337, 8, minor);
        for (int i = 148; i < 156; i++)
            h[i] = (byte)' ';
        long sum = h.Sum(b => (long)b);
        Octal(h, 148, 7, sum);
        output.Write(h);
    }

    private static byte[] TruncateUtf8(string text, int max)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length <= max ? bytes : bytes[..max];
    }

    private static void Put(byte[] h, int at, int length, byte[] value) => value.AsSpan(0, Math.Min(length, value.Length)).CopyTo(h.AsSpan(at));

    private static void Octal(byte[] h, int at, int length, long value)
    {
        string text = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(text).CopyTo(h, at);
        h[at + length - 1] = 0;
    }

    private void Pad(long written)
    {
        int pad = (int)((512 - written % 512) % 512);
        output.Write(_zeros, 0, pad);
    }
}
