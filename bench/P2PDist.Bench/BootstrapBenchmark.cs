using System.Diagnostics;
using System.Text;
using P2PDist.Rafs;

namespace P2PDist.Bench;

/// <summary>
/// Builds a synthetic bootstrap (default 100,000 files in 1,000 directories, 1,000,000 chunks), then measures
/// opening it (median of 20 opens of the mapped file, and the RSS it adds) and random path and chunk lookups.
/// </summary>
internal static class BootstrapBenchmark
{
    public static int Run(string[] args)
    {
        int files = args.Length > 0 ? int.Parse(args[0]) : 100_000;
        int chunksPerFile = args.Length > 1 ? int.Parse(args[1]) : 10;
        const uint chunkSize = 1 << 20;
        string path = Path.Combine(Path.GetTempPath(), $"bench-bootstrap-{Environment.ProcessId}");
        Build(files, chunksPerFile, chunkSize, path);
        try
        {
            // Measure in a fresh process so the builder's memory does not blur the figures.
            var child = Process.Start(new ProcessStartInfo(Environment.ProcessPath!, [typeof(BootstrapBenchmark).Assembly.Location, "bootstrap-measure", path, chunksPerFile.ToString()]) { UseShellExecute = false })!;
            child.WaitForExit();
        }
        finally
        {
            File.Delete(path);
        }
        return 0;
    }

    public static int MeasureOnly(string[] args)
    {
        string path = args[0];
        int chunksPerFile = int.Parse(args[1]);
        var paths = new List<string>();
        int files = 0;
        using (var b = RafsBootstrap.Open(path))
            files = b.InodeCount;
        // Paths follow the builder's naming; only ones that exist are looked up.
        for (int f = 0; ; f++)
        {
            if (paths.Count >= files - 1001)
                break;
            paths.Add($"/dir-{f % 1000:D4}/file-{f:D7}.so");
        }
        Measure(path, paths, chunksPerFile, 1 << 20);
        return 0;
    }

    private static List<string> Build(int files, int chunksPerFile, uint chunkSize, string path)
    {
        var clock = Stopwatch.StartNew();
        var table = new ChunkTableBuilder();
        int blob = table.AddBlob(new RafsBlob("sha256:" + new string('b', 64), (ulong)files * (ulong)chunksPerFile * chunkSize, (uint)(files * chunksPerFile)));
        var root = TreeNode.NewDirectory();
        var paths = new List<string>(files);
        var seed = new byte[8];
        ulong offset = 0;
        for (int f = 0; f < files; f++)
        {
            string dirName = $"dir-{f % 1000:D4}";
            if (!root.Children!.TryGetValue(dirName, out var dir))
                root.Children[dirName] = dir = TreeNode.NewDirectory();
            var file = new TreeNode(PosixMode.Regular | 0x1A4) { Size = (ulong)chunksPerFile * chunkSize };
            for (int c = 0; c < chunksPerFile; c++)
            {
                BitConverter.TryWriteBytes(seed, (long)f * chunksPerFile + c);
                var digest = ChunkDigest.Compute(DigestAlgorithm.Blake3, seed);
                file.Chunks.Add(table.Add(new RafsChunk((uint)blob, ChunkCompression.Zstd, offset, chunkSize / 2, chunkSize, digest)));
                offset += chunkSize / 2;
            }
            string name = $"file-{f:D7}.so";
            dir.Children![name] = file;
            paths.Add($"/{dirName}/{name}");
        }
        table.Blobs[blob] = table.Blobs[blob] with { Size = offset };
        File.WriteAllBytes(path, new BootstrapWriter(DigestAlgorithm.Blake3, chunkSize).Write(root, table, []));
        Console.WriteLine($"built: {files:N0} files, {table.Chunks.Count:N0} chunks, bootstrap {new FileInfo(path).Length / 1048576.0:0.0} MiB in {clock.Elapsed.TotalSeconds:0.0} s");
        return paths;
    }

    private static void Measure(string path, List<string> paths, int chunksPerFile, uint chunkSize)
    {
        long rssStart = Environment.WorkingSet;
        // Drop nothing from the page cache: a peer opens bootstraps it has just downloaded or used before.
        using (var warm = RafsBootstrap.Open(path)) { }
        long rssBefore = rssStart;
        var (anonBefore, fileBefore) = RssSplit();
        long managedBefore = GC.GetTotalMemory(true);
        var opens = new List<double>();
        RafsBootstrap? kept = null;
        for (int i = 0; i < 20; i++)
        {
            var clock = Stopwatch.StartNew();
            var bootstrap = RafsBootstrap.Open(path);
            _ = bootstrap.GetInode(bootstrap.RootIno);
            opens.Add(clock.Elapsed.TotalMilliseconds);
            if (kept is null)
                kept = bootstrap;
            else
                bootstrap.Dispose();
        }
        opens.Sort();
        var b = kept!;

        var random = new Random(7);
        const int lookups = 200_000;
        var names = Enumerable.Range(0, lookups).Select(_ => paths[random.Next(paths.Count)]).ToArray();
        var pathClock = Stopwatch.StartNew();
        uint found = 0;
        foreach (var p in names)
            found += b.LookupPath(p) == 0 ? 0u : 1u;
        double pathNs = pathClock.Elapsed.TotalNanoseconds / lookups;

        var inodes = names.Select(b.LookupPath).ToArray();
        var chunkClock = Stopwatch.StartNew();
        long hits = 0;
        foreach (var ino in inodes)
            hits += b.FindChunkRef(ino, (ulong)random.Next(chunksPerFile) * chunkSize + 12345) >= 0 ? 1 : 0;
        double chunkNs = chunkClock.Elapsed.TotalNanoseconds / lookups;
        long rssAfter = Environment.WorkingSet;
        long managedAfter = GC.GetTotalMemory(false);
        var (anonAfterLookups, fileAfterLookups) = RssSplit();
        var validateClock = Stopwatch.StartNew();
        b.Validate();
        double validateMs = validateClock.Elapsed.TotalMilliseconds;
        var (anonAfterValidate, fileAfterValidate) = RssSplit();

        Console.WriteLine($"open: median {opens[opens.Count / 2]:0.000} ms, max {opens[^1]:0.000} ms (20 opens, file in page cache)");
        Console.WriteLine($"path lookup: {pathNs:0} ns each ({found:N0}/{lookups:N0} found, depth 2, 1,000 entries per directory)");
        Console.WriteLine($"chunk lookup (file offset -> chunk): {chunkNs:0} ns each ({hits:N0} hits)");
        Console.WriteLine($"added memory after open + {lookups:N0} lookups: RSS {(rssAfter - rssBefore) / 1048576.0:0.0} MiB = anonymous {(anonAfterLookups - anonBefore) / 1024.0:0.0} MiB + mapped file pages {(fileAfterLookups - fileBefore) / 1024.0:0.0} MiB (page cache, shared and reclaimable); managed heap {(managedAfter - managedBefore) / 1048576.0:0.0} MiB (includes the benchmark's own 200,000 path strings)");
        Console.WriteLine($"full Validate() of every record: {validateMs:0} ms; after it anonymous +{(anonAfterValidate - anonBefore) / 1024.0:0.0} MiB, mapped file pages +{(fileAfterValidate - fileBefore) / 1024.0:0.0} MiB");
        b.Dispose();
    }

    /// <summary>RssAnon and RssFile from /proc/self/status, in KiB.</summary>
    private static (long Anon, long File) RssSplit()
    {
        long anon = 0, file = 0;
        foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                anon = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                file = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return (anon, file);
    }
}
