using System.Diagnostics;
using P2PDist.Rafs;

namespace P2PDist.Bench;

/// <summary>Chunk digest throughput on 1 MiB chunks: the measurement behind BLAKE3 as the default.</summary>
internal static class DigestBenchmark
{
    public static int Run()
    {
        var data = new byte[1 << 20];
        new Random(1).NextBytes(data);
        foreach (var algorithm in new[] { DigestAlgorithm.Blake3, DigestAlgorithm.Sha256, DigestAlgorithm.Blake3, DigestAlgorithm.Sha256 })
        {
            for (int i = 0; i < 50; i++)
                ChunkDigest.Compute(algorithm, data);
            var clock = Stopwatch.StartNew();
            int rounds = 0;
            while (clock.Elapsed < TimeSpan.FromSeconds(2))
            {
                ChunkDigest.Compute(algorithm, data);
                rounds++;
            }
            Console.WriteLine($"{algorithm.Name()}: {rounds / clock.Elapsed.TotalSeconds:0} MiB/s");
        }
        return 0;
    }
}
