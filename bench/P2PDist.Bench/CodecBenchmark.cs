using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using K4os.Compression.LZ4;

namespace P2PDist.Bench;

/// <summary>
/// Chunk codec speed on one core, the measurement behind the choice of zstd implementation (issue 13): zstd
/// level 3 through ZstdSharp.Port (managed, what ChunkCodec uses) against native libzstd, both through the
/// ZstdNet wrapper (its own bundled libzstd) and through a direct P/Invoke to Debian's libzstd.so.1, with LZ4
/// for reference. Every chunk a peer reads is decompressed once, so decompression is the peer's hot path;
/// compression is the converter's. Input is real files of this machine (binaries and text) cut into chunks,
/// not random bytes, and every decompression is checked against the original.
/// </summary>
internal static partial class CodecBenchmark
{
    private const int Level = 3;
    private const long BytesPerRoot = 32L << 20;
    private const long LargestFile = 4L << 20;
    private static readonly string[] Roots = ["/usr/lib/x86_64-linux-gnu", "/usr/share"];
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(2);

    public static int Run()
    {
        byte[] data = LoadData();
        Console.WriteLine($"native libzstd: ZstdNet's bundled libzstd.so; Debian's {SystemZstd.Path} version {SystemZstd.Version()}");
        Console.WriteLine($"one thread, zstd level {Level}, LZ4 L00_FAST; MB/s = 10^6 uncompressed bytes per second; two rounds (A B C D A B C D), {Duration.TotalSeconds:0} s each after a warm-up pass");
        Console.WriteLine();
        foreach (int chunkSize in new[] { 1 << 20, 256 << 10 })
            RunChunkSize(data, chunkSize);
        Console.WriteLine($"libzstd mapped in this process: {MappedZstd()}");
        return 0;
    }

    private static void RunChunkSize(byte[] data, int chunkSize)
    {
        var chunks = new List<ArraySegment<byte>>();
        for (int offset = 0; offset < data.Length; offset += chunkSize)
            chunks.Add(new ArraySegment<byte>(data, offset, Math.Min(chunkSize, data.Length - offset)));

        using var managed = new ManagedZstd();
        using var zstdNet = new ZstdNetZstd();
        using var system = new SystemZstd();
        var lz4 = new Lz4();
        IContender[] contenders = [managed, zstdNet, system, lz4];
        var states = contenders.Select(c => new State(c, chunks)).ToArray();

        var compress = new double[contenders.Length, 2];
        var decompress = new double[contenders.Length, 2];
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < states.Length; i++)
                compress[i, round] = states[i].TimeCompress();
        foreach (var state in states)
            state.RoundTrip();
        CrossCheck(states[0], states[1], chunks);
        CrossCheck(states[0], states[2], chunks);
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < states.Length; i++)
                decompress[i, round] = states[i].TimeDecompress();

        string size = chunkSize >= 1 << 20 ? $"{chunkSize >> 20} MiB" : $"{chunkSize >> 10} KiB";
        Console.WriteLine($"{size} chunks: {chunks.Count} chunks, {data.Length / 1e6:0.0} MB; every output round-tripped byte for byte (warm-up pass and each chunk's last timed decompression), ZstdSharp and native frames decode each other");
        Console.WriteLine();
        Console.WriteLine("| chunk | operation | " + string.Join(" | ", contenders.Select(c => c.Name + " (r1 / r2)")) + " | ZstdNet / ZstdSharp | libzstd.so.1 / ZstdSharp |");
        Console.WriteLine("|---|---|" + string.Concat(Enumerable.Repeat("---|", contenders.Length + 2)));
        PrintRow(size, "compress", compress);
        PrintRow(size, "decompress", decompress);
        Console.WriteLine($"| {size} | ratio (uncompressed / compressed) | " + string.Join(" | ", states.Select(s => $"{s.Ratio:0.000}x ({s.Stored} stored)")) + " | | |");
        Console.WriteLine();
    }

    private static void PrintRow(string size, string operation, double[,] mbps)
    {
        var cells = Enumerable.Range(0, mbps.GetLength(0)).Select(i => $"{mbps[i, 0]:#,0} / {mbps[i, 1]:#,0}");
        double Mean(int i) => (mbps[i, 0] + mbps[i, 1]) / 2;
        Console.WriteLine($"| {size} | {operation} | {string.Join(" | ", cells)} | {Mean(1) / Mean(0):0.00}x | {Mean(2) / Mean(0):0.00}x |");
    }

    /// <summary>The converter might compress with one implementation and the peer decompress with the other: frames must be interchangeable.</summary>
    private static void CrossCheck(State a, State b, List<ArraySegment<byte>> chunks)
    {
        var output = new byte[chunks.Max(c => c.Count)];
        for (int i = 0; i < chunks.Count; i++)
        {
            foreach (var (from, to) in new[] { (a, b), (b, a) })
            {
                int produced = to.Contender.Decompress(from.Compressed(i), output.AsSpan(0, chunks[i].Count));
                if (produced != chunks[i].Count || !output.AsSpan(0, produced).SequenceEqual(chunks[i]))
                    throw new InvalidOperationException($"chunk {i}: {to.Contender.Name} does not decode {from.Contender.Name}'s frame");
            }
        }
    }

    /// <summary>
    /// Real files, the kind a container image holds: the regular files of each root in the order of a hash of
    /// their path (a stable pseudo-random sample: a package installed between two runs moves few files in or
    /// out), files over 4 MiB left out so no single library dominates, 32 MiB from each root, the two samples
    /// merged in the same hash order and concatenated. The SHA-256 printed tells whether two runs had the same bytes.
    /// </summary>
    private static byte[] LoadData()
    {
        static ulong Rank(string path) => BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(path)));
        var picked = new List<string>();
        foreach (string root in Roots)
        {
            var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint })
                .OrderBy(Rank).ThenBy(f => f, StringComparer.Ordinal);
            long taken = 0;
            int count = 0;
            foreach (string file in files)
            {
                long length = new FileInfo(file).Length;
                if (length == 0 || length > LargestFile)
                    continue;
                picked.Add(file);
                taken += length;
                count++;
                if (taken >= BytesPerRoot)
                    break;
            }
            Console.WriteLine($"data: {count} files, {taken / 1e6:0.0} MB from {root}");
        }
        using var all = new MemoryStream();
        foreach (string file in picked.OrderBy(Rank).ThenBy(f => f, StringComparer.Ordinal))
        {
            using var stream = File.OpenRead(file);
            stream.CopyTo(all);
        }
        byte[] data = all.ToArray();
        Console.WriteLine($"data: {picked.Count} files concatenated, {data.Length / 1e6:0.0} MB, sha256 {Convert.ToHexStringLower(SHA256.HashData(data))[..16]}");
        return data;
    }

    /// <summary>Which libzstd files the process really loaded (ZstdNet's own and Debian's), from /proc/self/maps.</summary>
    private static string MappedZstd()
    {
        try
        {
            var paths = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1])
                .Where(p => p.Contains("libzstd", StringComparison.Ordinal)).Distinct();
            return string.Join(", ", paths);
        }
        catch (IOException)
        {
            return "(unknown)";
        }
    }

    private sealed class State
    {
        private readonly List<ArraySegment<byte>> _chunks;
        private readonly byte[][] _compressed;
        private readonly int[] _compressedLength;
        private readonly byte[][] _decompressed;

        public State(IContender contender, List<ArraySegment<byte>> chunks)
        {
            Contender = contender;
            _chunks = chunks;
            _compressed = chunks.Select(c => new byte[contender.Bound(c.Count)]).ToArray();
            _compressedLength = new int[chunks.Count];
            _decompressed = chunks.Select(c => new byte[c.Count]).ToArray();
        }

        public IContender Contender { get; }

        public double Ratio => _chunks.Sum(c => (long)c.Count) / (double)_compressedLength.Sum(l => (long)l);

        /// <summary>Chunks that did not shrink: ChunkCodec would store them as they are.</summary>
        public int Stored => Enumerable.Range(0, _chunks.Count).Count(i => _compressedLength[i] >= _chunks[i].Count);

        public ReadOnlySpan<byte> Compressed(int i) => _compressed[i].AsSpan(0, _compressedLength[i]);

        public double TimeCompress()
        {
            for (int i = 0; i < _chunks.Count; i++)
                _compressedLength[i] = CompressOne(i);
            return Time(i => _compressedLength[i] = CompressOne(i));
        }

        public double TimeDecompress()
        {
            for (int i = 0; i < _chunks.Count; i++)
                DecompressOne(i);
            VerifyOutputs();
            foreach (var output in _decompressed)
                Array.Clear(output);
            double mbps = Time(DecompressOne);
            VerifyOutputs();
            return mbps;
        }

        /// <summary>Decompresses every chunk's current frame afresh and compares it with the original.</summary>
        public void RoundTrip()
        {
            foreach (var output in _decompressed)
                Array.Clear(output);
            for (int i = 0; i < _chunks.Count; i++)
                DecompressOne(i);
            VerifyOutputs();
        }

        /// <summary>
        /// Each chunk has its own output buffer, cleared before the timed loop: this checks, byte for byte, the last
        /// decompression of every chunk (the timed loop goes over all chunks many times; DecompressOne checks the
        /// length of every call).
        /// </summary>
        private void VerifyOutputs()
        {
            for (int i = 0; i < _chunks.Count; i++)
            {
                if (!_decompressed[i].AsSpan().SequenceEqual(_chunks[i]))
                    throw new InvalidOperationException($"{Contender.Name}: chunk {i} does not round-trip");
            }
        }

        private double Time(Action<int> one)
        {
            long bytes = 0;
            long calls = 0;
            var clock = Stopwatch.StartNew();
            for (int i = 0; clock.Elapsed < Duration || calls < _chunks.Count; i = (i + 1) % _chunks.Count)
            {
                one(i);
                bytes += _chunks[i].Count;
                calls++;
            }
            return bytes / clock.Elapsed.TotalSeconds / 1e6;
        }

        private int CompressOne(int i)
        {
            int written = Contender.Compress(_chunks[i], _compressed[i]);
            if (written <= 0)
                throw new InvalidOperationException($"{Contender.Name}: chunk {i} compressed to {written} bytes");
            return written;
        }

        private void DecompressOne(int i)
        {
            int produced = Contender.Decompress(Compressed(i), _decompressed[i]);
            if (produced != _chunks[i].Count)
                throw new InvalidOperationException($"{Contender.Name}: chunk {i} decompressed to {produced} bytes, expected {_chunks[i].Count}");
        }
    }

    private interface IContender
    {
        string Name { get; }

        int Bound(int length);

        int Compress(ReadOnlySpan<byte> source, Span<byte> destination);

        int Decompress(ReadOnlySpan<byte> source, Span<byte> destination);
    }

    /// <summary>ZstdSharp.Port as ChunkCodec uses it: one reused Compressor and Decompressor, Wrap and Unwrap into spans.</summary>
    private sealed class ManagedZstd : IContender, IDisposable
    {
        private readonly ZstdSharp.Compressor _compressor = new(Level);
        private readonly ZstdSharp.Decompressor _decompressor = new();

        public string Name => "ZstdSharp";

        public int Bound(int length) => ZstdSharp.Compressor.GetCompressBound(length);

        public int Compress(ReadOnlySpan<byte> source, Span<byte> destination) => _compressor.Wrap(source, destination);

        public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) => _decompressor.Unwrap(source, destination);

        public void Dispose()
        {
            _compressor.Dispose();
            _decompressor.Dispose();
        }
    }

    /// <summary>Native libzstd through the ZstdNet wrapper (the libzstd.so its package ships for linux-x64), contexts reused.</summary>
    private sealed class ZstdNetZstd : IContender, IDisposable
    {
        private readonly ZstdNet.CompressionOptions _options = new(Level);
        private readonly ZstdNet.Compressor _compressor;
        private readonly ZstdNet.Decompressor _decompressor = new();

        public ZstdNetZstd() => _compressor = new ZstdNet.Compressor(_options);

        public string Name => "ZstdNet";

        public int Bound(int length) => ZstdNet.Compressor.GetCompressBound(length);

        public int Compress(ReadOnlySpan<byte> source, Span<byte> destination) => _compressor.Wrap(source, destination);

        public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) => _decompressor.Unwrap(source, destination, bufferSizePrecheck: false);

        public void Dispose()
        {
            _compressor.Dispose();
            _decompressor.Dispose();
            _options.Dispose();
        }
    }

    /// <summary>Debian's libzstd1 (libzstd.so.1) called directly: what a peer depending on the system library would run.</summary>
    private sealed partial class SystemZstd : IContender, IDisposable
    {
        public const string Path = "libzstd.so.1";
        private readonly IntPtr _cctx = ZSTD_createCCtx();
        private readonly IntPtr _dctx = ZSTD_createDCtx();

        public string Name => "libzstd.so.1";

        public static string Version()
        {
            uint v = ZSTD_versionNumber();
            return $"{v / 10000}.{v / 100 % 100}.{v % 100}";
        }

        public int Bound(int length) => checked((int)ZSTD_compressBound((nuint)length));

        public int Compress(ReadOnlySpan<byte> source, Span<byte> destination) =>
            Check(ZSTD_compressCCtx(_cctx, ref MemoryMarshal.GetReference(destination), (nuint)destination.Length, in MemoryMarshal.GetReference(source), (nuint)source.Length, Level));

        public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) =>
            Check(ZSTD_decompressDCtx(_dctx, ref MemoryMarshal.GetReference(destination), (nuint)destination.Length, in MemoryMarshal.GetReference(source), (nuint)source.Length));

        public void Dispose()
        {
            _ = ZSTD_freeCCtx(_cctx);
            _ = ZSTD_freeDCtx(_dctx);
        }

        private static int Check(nuint result)
        {
            if (ZSTD_isError(result) != 0)
                throw new InvalidOperationException($"libzstd: {Marshal.PtrToStringUTF8(ZSTD_getErrorName(result))}");
            return checked((int)result);
        }

        [LibraryImport(Path)]
        private static partial uint ZSTD_versionNumber();

        [LibraryImport(Path)]
        private static partial nuint ZSTD_compressBound(nuint srcSize);

        [LibraryImport(Path)]
        private static partial IntPtr ZSTD_createCCtx();

        [LibraryImport(Path)]
        private static partial nuint ZSTD_freeCCtx(IntPtr cctx);

        [LibraryImport(Path)]
        private static partial IntPtr ZSTD_createDCtx();

        [LibraryImport(Path)]
        private static partial nuint ZSTD_freeDCtx(IntPtr dctx);

        [LibraryImport(Path)]
        private static partial nuint ZSTD_compressCCtx(IntPtr cctx, ref byte dst, nuint dstCapacity, in byte src, nuint srcSize, int compressionLevel);

        [LibraryImport(Path)]
        private static partial nuint ZSTD_decompressDCtx(IntPtr dctx, ref byte dst, nuint dstCapacity, in byte src, nuint srcSize);

        [LibraryImport(Path)]
        private static partial uint ZSTD_isError(nuint code);

        [LibraryImport(Path)]
        private static partial IntPtr ZSTD_getErrorName(nuint code);
    }

    /// <summary>K4os LZ4 at the level ChunkCodec uses, for reference.</summary>
    private sealed class Lz4 : IContender
    {
        public string Name => "LZ4";

        public int Bound(int length) => LZ4Codec.MaximumOutputSize(length);

        public int Compress(ReadOnlySpan<byte> source, Span<byte> destination) => LZ4Codec.Encode(source, destination, LZ4Level.L00_FAST);

        public int Decompress(ReadOnlySpan<byte> source, Span<byte> destination) => LZ4Codec.Decode(source, destination);
    }
}
