using System.Text;

namespace P2PDist.Tests.Fixtures;

/// <summary>Test images with known content; each exercises a part of OCI layer semantics.</summary>
public static class SampleImages
{
    public static byte[] Bytes(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Text-like data: compresses, so chunks are stored compressed.</summary>
    public static byte[] Text(int size, int seed)
    {
        var random = new Random(seed);
        var words = new[] { "alpha ", "beta ", "gamma ", "delta ", "chunk ", "peer ", "layer\n" };
        var builder = new StringBuilder(size + 16);
        while (builder.Length < size)
            builder.Append(words[random.Next(words.Length)]);
        return Encoding.ASCII.GetBytes(builder.ToString(0, size));
    }

    /// <summary>
    /// Every file type, setuid/setgid/sticky, owners, xattrs including security.capability, long and
    /// non-ASCII names, empty files, multi-chunk files, hard links within and across layers, whiteouts and
    /// an opaque directory, and gzip, zstd and uncompressed layers.
    /// </summary>
    public static TestImage Rich()
    {
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        string longName = new string('n', 200);
        return new TestImage()
            .Layer(w =>
            {
                w.Directory("./");
                w.Directory("bin");
                w.File("bin/tool", Bytes(3 * 1024 * 1024 + 17, 1), mode: 0x9ED /* 04755 */, xattrs: new() { ["security.capability"] = capability });
                w.File("bin/setgid", Text(5000, 2), mode: 0x5ED /* 02755 */, uid: 0, gid: 50);
                w.Directory("tmp", mode: 0x3FF /* 01777 */);
                w.Directory("etc");
                w.File("etc/config", Text(70_000, 3), uid: 1000, gid: 1000, mtimeNs: 123456789);
                w.File("etc/empty", []);
                w.File("etc/to-delete", Text(100, 4));
                w.Directory("etc/replaced-dir");
                w.File("etc/replaced-dir/old", Text(100, 5));
                w.Directory("opaque");
                w.File("opaque/lower-only", Text(300, 6));
                w.File("opaque/both", Text(300, 7));
                w.Symlink("etc/link-to-config", "config");
                w.Symlink("dangling", "/does/not/exist");
                w.HardLink("bin/tool-hardlink", "bin/tool");
                w.CharDevice("dev-null", 1, 3);
                w.BlockDevice("dev-loop", 7, 0);
                w.Fifo("fifo");
                w.File("long/" + longName + "/" + longName, Text(10, 8));
                w.File("ünïcødé/файл-数据.txt", Text(1234, 9), xattrs: new() { ["user.comment"] = Encoding.UTF8.GetBytes("héllo"), ["user.binary"] = [0, 1, 2, 255] });
                w.File("dup-content-a", Text(2 * 1024 * 1024, 10));
                w.File("dup-content-b", Text(2 * 1024 * 1024, 10));
            }, LayerCompression.Gzip)
            .Layer(w =>
            {
                w.File("etc/.wh.to-delete", []);
                w.File("etc/replaced-dir", Text(50, 11)); // a file replaces a directory
                w.File("opaque/.wh..wh..opq", []);
                w.File("opaque/both", Text(400, 12));
                w.File("opaque/upper-only", Text(400, 13));
                w.HardLink("etc/config-hardlink-across-layers", "etc/config");
                w.File("bin/setgid", Text(6000, 14), mode: 0x5ED, gid: 50); // replaced in a later layer
            }, LayerCompression.Zstd)
            .Layer(w =>
            {
                w.Directory("usr/share/doc"); // parents usr/ and usr/share/ are implicit
                w.File("usr/share/doc/readme", Text(20_000, 15), mode: 0x124 /* 0444 */);
                w.File("opaque/.wh.upper-only", []);
            }, LayerCompression.None);
    }

    /// <summary>A directory of many small files, as in package-manager trees.</summary>
    public static TestImage ManyFiles(int count) => new TestImage().Layer(w =>
    {
        w.Directory("many");
        for (int i = 0; i < count; i++)
            w.File($"many/file-{i:D6}", Encoding.ASCII.GetBytes($"file {i}\n"));
    });
}
