using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

/// <summary>
/// The peer decompresses zstd chunks with the system's libzstd and falls back to ZstdSharp: both decoders must
/// give the same bytes for the converter's frames and refuse the same bad input, naming the chunk, within the
/// chunk's own buffer. On Debian (libzstd1 is what dpkg itself needs) the system library must be the one in use.
/// </summary>
public sealed class ZstdDecoderTests
{
    private const int ChunkBytes = 1 << 20;

    public static TheoryData<bool> Decoders => new() { true, false };

    /// <summary>Real content, not random bytes: a file of this test run's own binaries, cut to one chunk.</summary>
    private static byte[] Chunk()
    {
        byte[] data = File.ReadAllBytes(typeof(ZstdDecoderTests).Assembly.Location);
        byte[] chunk = new byte[ChunkBytes];
        for (int at = 0; at < chunk.Length; at += data.Length)
            data.AsSpan(0, Math.Min(data.Length, chunk.Length - at)).CopyTo(chunk.AsSpan(at));
        return chunk;
    }

    private static byte[] Compressed(byte[] plain)
    {
        using var codec = new ChunkCodec();
        byte[] output = new byte[ChunkCodec.MaxCompressedSize(plain.Length)];
        Assert.Equal(ChunkCompression.Zstd, codec.Compress(ChunkCompression.Zstd, plain, output, out int written));
        return output[..written];
    }

    [Fact]
    public void OnDebian_TheSystemLibraryDecodes()
    {
        Assert.True(File.Exists("/etc/debian_version"), "this test knows Debian's libzstd1 only");
        bool forcedManaged = string.Equals(Environment.GetEnvironmentVariable("P2PDIST_ZSTD"), "managed", StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith(forcedManaged ? "ZstdSharp" : "libzstd 1.", ChunkCodec.ZstdDecoderName);
    }

    [Theory]
    [MemberData(nameof(Decoders))]
    public void TheConvertersFrames_DecodeToTheSameBytes(bool systemZstd)
    {
        byte[] plain = Chunk();
        using var codec = new ChunkCodec(3, systemZstd);
        byte[] back = new byte[plain.Length];
        Assert.Null(codec.TryDecompress(ChunkCompression.Zstd, Compressed(plain), back));
        Assert.Equal(plain, back);
        // Twice through one codec: the reused context carries nothing from one chunk to the next.
        Array.Clear(back);
        Assert.Null(codec.TryDecompress(ChunkCompression.Zstd, Compressed(plain), back));
        Assert.Equal(plain, back);
    }

    [Theory]
    [MemberData(nameof(Decoders))]
    public void BadFrames_AreRefusedNamingTheChunk(bool systemZstd)
    {
        byte[] plain = Chunk();
        byte[] frame = Compressed(plain);
        using var codec = new ChunkCodec(3, systemZstd);
        byte[] back = new byte[plain.Length];

        byte[] truncated = frame[..(frame.Length / 2)];
        Assert.Contains("chunk blake3-x", Assert.Throws<P2PDistException>(() => codec.Decompress(ChunkCompression.Zstd, truncated, back, "chunk blake3-x")).Message);

        byte[] flipped = (byte[])frame.Clone();
        flipped[frame.Length / 2] ^= 0x5a;
        flipped[frame.Length / 3] ^= 0xa5;
        // Flipped bits either fail inside zstd or decode to other bytes; either way, never the original (the digest catches the second).
        string? error = codec.TryDecompress(ChunkCompression.Zstd, flipped, back);
        Assert.True(error is not null || !back.AsSpan().SequenceEqual(plain), "flipped bits decoded to the original");

        // A chunk table that says smaller than the frame holds: refused, not written past the buffer.
        byte[] small = new byte[plain.Length - 1];
        Assert.NotNull(codec.TryDecompress(ChunkCompression.Zstd, frame, small));
        // And larger: the frame ends short of the size the table promised.
        byte[] large = new byte[plain.Length + 1];
        Assert.Contains("expected", codec.TryDecompress(ChunkCompression.Zstd, frame, large));

        Assert.NotNull(codec.TryDecompress(ChunkCompression.Zstd, [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0], back));
        Assert.NotNull(codec.TryDecompress(ChunkCompression.Zstd, [], back));
    }

    [Theory]
    [MemberData(nameof(Decoders))]
    public void ABomb_IsRefusedWithinTheChunksOwnBuffer(bool systemZstd)
    {
        byte[] bomb = new ZstdSharp.Compressor(19).Wrap(new byte[256 << 20]).ToArray();
        using var codec = new ChunkCodec(3, systemZstd);
        byte[] destination = new byte[ChunkBytes];
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.NotNull(codec.TryDecompress(ChunkCompression.Zstd, bomb, destination));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20);
    }
}
