using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using P2PDist.Supernode;

namespace P2PDist.Bench;

/// <summary>
/// The supernode's scheduling at scale, in process, against the real <see cref="SchedulerIndex"/> (ranking,
/// origin elections and leases, load accounting), with fake time: <c>peers</c> peers register and all start a
/// lazy pull of one image of <c>chunks</c> chunks at the same moment (the worst case for origin dedup). Each peer
/// reads <see cref="ChunksPerPeer"/> chunks, 60 % of them from a start-up set every container reads and the rest
/// at random, 8 at a time, as a peer's prefetch does. Per read it asks for holders; a holder serves it in one
/// step (100 ms); with no holder it asks for an origin election and, elected, fetches in three steps; told to
/// wait, it asks again next step, and after 5 s fetches from the origin anyway (as a peer does). Finished
/// chunks are announced; peers beat and report their upload load every 5 s. Reports holder-query latency
/// (the index call, one thread), announcements per second, the index's memory, origin fetches per chunk read
/// and the spread of uploads over peers.
/// </summary>
public static class SwarmSimulation
{
    private const int ChunksPerPeer = 500;
    private const int HotChunks = 2_000;
    private const int Concurrency = 8;
    private const int OriginSteps = 3;
    private const int WaitStepsBeforeOrigin = 50;
    private const int HeartbeatSteps = 50;
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);
    private const string Blob = "sha256:00000000000000000000000000000000000000000000000000000000000000aa";

    private sealed class SimPeer(string id)
    {
        public string Id { get; } = id;
        public Queue<uint> Needed { get; } = new();
        public List<Transfer> InFlight { get; } = [];
        public int Uploads; // served so far, in all
        public int UploadingNow;
    }

    /// <summary>A read under way: from a holder (null: the origin) until <c>DoneAt</c>, or waiting since <c>WaitingSince</c> for an elected peer.</summary>
    private sealed record Transfer(uint Chunk, SimPeer? From, int DoneAt, int WaitingSince, bool Waiting);

    public static int Run(string[] args)
    {
        int peerCount = args.Length > 0 ? int.Parse(args[0]) : 10_000;
        int chunkCount = args.Length > 1 ? int.Parse(args[1]) : 100_000;
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var random = new Random(13);
        long memoryBefore = GC.GetTotalMemory(true);
        var index = new SchedulerIndex { Clock = clock };
        var peers = new List<SimPeer>(peerCount);
        var byId = new Dictionary<string, SimPeer>(StringComparer.Ordinal);
        for (int p = 0; p < peerCount; p++)
        {
            var peer = new SimPeer($"peer-{p}");
            // Registrations are rate limited (burst, then a rate): a big cluster comes up over some seconds.
            while (index.Register(new PeerState(peer.Id, $"10.{p / 65536}.{p / 256 % 256}.{p % 256}:7710", new Dictionary<string, string> { ["zone"] = $"z{p % 4}" }, 0, 16)) != Registration.Registered)
                clock.Advance(TimeSpan.FromMilliseconds(50));
            foreach (uint chunk in Reads(random, chunkCount))
                peer.Needed.Enqueue(chunk);
            peers.Add(peer);
            byId[peer.Id] = peer;
        }
        foreach (var peer in peers)
            index.Touch(peer.Id);

        var queryMicros = new List<float>(peerCount * ChunksPerPeer * 2);
        long announcements = 0, announceTicks = 0, originFetches = 0, peerFetches = 0, waits = 0;
        var chunksRead = new HashSet<uint>();
        var queryClock = new Stopwatch();
        int step = 0;
        var wall = Stopwatch.StartNew();
        for (int active = peerCount; active > 0; step++)
        {
            active = 0;
            foreach (var peer in peers)
            {
                // Finished transfers: announce (the elected fetcher's announcement ends its lease).
                for (int i = peer.InFlight.Count - 1; i >= 0; i--)
                {
                    var t = peer.InFlight[i];
                    if (t.Waiting || t.DoneAt > step)
                        continue;
                    peer.InFlight.RemoveAt(i);
                    if (t.From is { } holder)
                        holder.UploadingNow--;
                    long started = Stopwatch.GetTimestamp();
                    index.Add(peer.Id, Blob, t.Chunk, 1);
                    announceTicks += Stopwatch.GetTimestamp() - started;
                    announcements++;
                }
                // Waiting for an elected peer: ask again; after the wait limit, fetch from the origin anyway.
                for (int i = 0; i < peer.InFlight.Count; i++)
                {
                    var t = peer.InFlight[i];
                    if (t.Waiting)
                        peer.InFlight[i] = Ask(peer, t.Chunk, t.WaitingSince);
                }
                while (peer.InFlight.Count < Concurrency && peer.Needed.TryDequeue(out uint chunk))
                {
                    chunksRead.Add(chunk);
                    peer.InFlight.Add(Ask(peer, chunk, step));
                }
                if (peer.InFlight.Count > 0 || peer.Needed.Count > 0)
                    active++;
            }
            if (step % HeartbeatSteps == 0)
            {
                foreach (var peer in peers)
                {
                    index.Touch(peer.Id);
                    index.ReportLoad(peer.Id, peer.UploadingNow);
                }
            }
            clock.Advance(Step);
            if (step % 100 == 0)
                Console.Error.WriteLine($"step {step}: {active:N0} peers still reading, {queryMicros.Count:N0} queries, {wall.Elapsed.TotalSeconds:0} s");
        }
        double wallSeconds = wall.Elapsed.TotalSeconds;
        long memoryAfter = GC.GetTotalMemory(true);
        GC.KeepAlive(index);

        queryMicros.Sort();
        double mean = peers.Average(p => p.Uploads);
        int max = peers.Max(p => p.Uploads);
        int uploaders = peers.Count(p => p.Uploads > 0);
        Console.WriteLine($"| peers | chunks in the image | chunk reads | simulated time | holder query p50 / p99 / max | announcements/s | index memory | origin fetches per chunk read | uploads per peer: max / mean (peers that uploaded) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        Console.WriteLine($"| {peerCount:N0} | {chunkCount:N0} | {peerFetches + originFetches:N0} ({chunksRead.Count:N0} distinct; {waits:N0} waits) | {step * Step.TotalSeconds:0.0} s | " +
            $"{Percentile(queryMicros, 0.5):0.0} / {Percentile(queryMicros, 0.99):0.0} / {queryMicros[^1]:0} µs | " +
            $"{announcements / (announceTicks / (double)Stopwatch.Frequency):N0} | {(memoryAfter - memoryBefore) / 1048576.0:0} MiB managed (process peak {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:0} MiB) | " +
            $"{originFetches / (double)chunksRead.Count:0.000} | {max} / {mean:0.0} = {max / mean:0.0}x ({uploaders:N0}) |");
        Console.WriteLine($"({queryMicros.Count:N0} index calls timed; the run took {wallSeconds:0} s of wall time)");
        return 0;

        Transfer Ask(SimPeer peer, uint chunk, int waitingSince)
        {
            queryClock.Restart();
            var holders = index.Holders(peer.Id, Blob, chunk, random);
            Election? election = holders.Count == 0 ? index.ElectOriginFetcher(Blob, chunk, peer.Id) : null;
            queryMicros.Add((float)queryClock.Elapsed.TotalMicroseconds);
            if (holders.Count > 0)
            {
                var holder = byId[holders[0].Id];
                holder.Uploads++;
                holder.UploadingNow++;
                peerFetches++;
                return new Transfer(chunk, holder, step + 1, waitingSince, false);
            }
            if (election == Election.Wait && step - waitingSince < WaitStepsBeforeOrigin)
            {
                waits++;
                return new Transfer(chunk, null, int.MaxValue, waitingSince, true);
            }
            originFetches++;
            return new Transfer(chunk, null, step + OriginSteps, waitingSince, false);
        }
    }

    /// <summary>What one container start reads: most of a shared start-up set, the rest anywhere in the image.</summary>
    private static IEnumerable<uint> Reads(Random random, int chunkCount)
    {
        var picked = new HashSet<uint>();
        while (picked.Count < ChunksPerPeer * 6 / 10)
            picked.Add((uint)random.Next(Math.Min(HotChunks, chunkCount)));
        while (picked.Count < ChunksPerPeer)
            picked.Add((uint)random.Next(chunkCount));
        return picked.OrderBy(_ => random.Next());
    }

    private static double Percentile(List<float> sorted, double p) => sorted[(int)Math.Min(sorted.Count - 1, p * sorted.Count)];
}
