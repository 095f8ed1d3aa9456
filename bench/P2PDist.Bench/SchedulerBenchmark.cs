using System.Diagnostics;
using P2PDist.Supernode;

namespace P2PDist.Bench;

/// <summary>
/// The supernode's index at scale: 10,000 peers and 1,000,000 chunks (100 blobs of 10,000 chunks). Each peer
/// holds 10 random blobs, each wholly or half; then holder queries for random chunks, on one thread.
/// Reports the managed memory of the index and queries per second.
/// </summary>
internal static class SchedulerBenchmark
{
    public static int Run(string[] args)
    {
        int peers = args.Length > 0 ? int.Parse(args[0]) : 10_000;
        const int blobs = 100, chunksPerBlob = 10_000, blobsPerPeer = 10;
        var random = new Random(5);
        string[] blobDigests = Enumerable.Range(0, blobs).Select(b => "sha256:" + b.ToString("x64")).ToArray();
        long before = GC.GetTotalMemory(true);
        var index = new SchedulerIndex();
        var clock = Stopwatch.StartNew();
        for (int p = 0; p < peers; p++)
        {
            string id = $"peer-{p}";
            index.Register(new PeerState(id, $"10.{p / 65536}.{p / 256 % 256}.{p % 256}:7710", new Dictionary<string, string> { ["zone"] = $"z{p % 4}" }, 0, 0));
            for (int i = 0; i < blobsPerPeer; i++)
            {
                string blob = blobDigests[random.Next(blobs)];
                if (random.Next(2) == 0)
                    index.Add(id, blob, 0, chunksPerBlob);
                else
                    index.Add(id, blob, (uint)random.Next(chunksPerBlob / 2), chunksPerBlob / 2);
            }
        }
        double buildSeconds = clock.Elapsed.TotalSeconds;
        long after = GC.GetTotalMemory(true);
        Console.WriteLine($"index: {peers:N0} peers, {blobs * chunksPerBlob:N0} chunks, {peers * blobsPerPeer:N0} (peer, blob) holdings; built in {buildSeconds:0.0} s");
        Console.WriteLine($"index memory: {(after - before) / 1048576.0:0.0} MiB managed ({(after - before) / (double)(peers * blobsPerPeer):0} bytes per (peer, blob) holding)");

        var shuffle = new Random(9);
        int queries = 0;
        long holdersSeen = 0;
        clock.Restart();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            var holders = index.Holders($"peer-{random.Next(peers)}", blobDigests[random.Next(blobs)], (uint)random.Next(chunksPerBlob), shuffle);
            holdersSeen += holders.Count;
            queries++;
        }
        Console.WriteLine($"holder queries: {queries / clock.Elapsed.TotalSeconds:N0}/s on one thread (one chunk per query; {holdersSeen / (double)queries:0} holders each, ranked and shuffled)");
        return 0;
    }
}
