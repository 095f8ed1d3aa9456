using P2PDist.Peer.P2P;
using P2PDist.Supernode;

namespace P2PDist.Tests.Unit;

/// <summary>How the supernode ranks holders, and the peer's upload limiter.</summary>
public sealed class SchedulerRankingTests
{
    private const string Blob = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    private static SchedulerIndex IndexWith(params (string Id, string Zone)[] peers)
    {
        var index = new SchedulerIndex();
        index.Register(new PeerState("me", "127.0.2.1:1", new Dictionary<string, string> { ["zone"] = "a" }, 0, 0));
        foreach (var (id, zone) in peers)
        {
            index.Register(new PeerState(id, $"127.0.3.{id.Length}:1", new Dictionary<string, string> { ["zone"] = zone }, 0, 4));
            index.Add(id, Blob, 0, 10);
        }
        return index;
    }

    /// <summary>Reports count only from peers the supernode sent to the reported one, and blocking takes two of them.</summary>
    private static PeerState Witness(SchedulerIndex index, string id)
    {
        var witness = new PeerState(id, $"127.0.4.{id.Length}:1", new Dictionary<string, string>(), 0, 0);
        index.Register(witness);
        index.Holders(id, Blob, 0, new Random(0), limit: 16, assign: false);
        return witness;
    }

    [Fact]
    public void SameZoneFirst_ThenTheLeastBusy_AndBlockedPeersNever()
    {
        var index = IndexWith(("near-busy", "a"), ("near-idle", "a"), ("far-idle", "b"), ("liar", "a"));
        index.ReportLoad("near-busy", 3);
        Witness(index, "w1");
        Witness(index, "w2");
        index.Report("w1", "liar", badDigest: true);
        index.Report("w2", "liar", badDigest: true);
        var ranked = index.Holders("me", Blob, 5, new Random(1)).Select(p => p.Id).ToList();
        Assert.Equal(["near-idle", "near-busy", "far-idle"], ranked);
    }

    [Fact]
    public void EachAssignmentCounts_UntilThePeerReportsItsLoad()
    {
        var index = IndexWith(("p1", "a"), ("p2", "a"));
        var firsts = Enumerable.Range(0, 6).Select(_ => index.Holders("me", Blob, 1, new Random(2))[0].Id).ToList();
        Assert.Equal(3, firsts.Count(f => f == "p1")); // alternates: each pick makes that holder look busier
        index.ReportLoad("p1", 0);
        index.ReportLoad("p2", 0);
        Assert.Empty(Enumerable.Range(0, 4).Select(_ => index.Holders("me", Blob, 1, new Random(3), assign: false)[0].Id).Distinct().Skip(1)); // probes assign nothing
    }

    [Fact]
    public void SlowOrTimingOutPeers_RankBehindFastOnes_AndThreeTimeoutsBlock()
    {
        var index = IndexWith(("slow", "a"), ("fast", "a"));
        Witness(index, "w1");
        index.Holders("me", Blob, 0, new Random(0), limit: 16, assign: false); // "me" was sent to both
        index.AddTransfer("me", "slow", 1 << 20, 1_000_000); // 1 MiB/s
        index.AddTransfer("me", "fast", 3 << 20, 2_000_000); // 1.5 MiB/s
        Assert.Equal("fast", index.Holders("me", Blob, 0, new Random(4), assign: false)[0].Id);
        Assert.Equal(SchedulerIndex.ReportOutcome.Counted, index.Report("me", "fast", badDigest: false));
        Assert.Equal("slow", index.Holders("me", Blob, 0, new Random(5), assign: false)[0].Id); // a timeout doubles its cost
        Assert.Equal(SchedulerIndex.ReportOutcome.Counted, index.Report("me", "fast", badDigest: false));
        Assert.Equal(SchedulerIndex.ReportOutcome.Blocked, index.Report("w1", "fast", badDigest: false)); // third timeout, second reporter
        Assert.DoesNotContain("fast", index.Holders("me", Blob, 0, new Random(6)).Select(p => p.Id));
    }

    [Fact]
    public void DroppedChunksAndSilentPeers_LeaveTheIndex()
    {
        var index = IndexWith(("p1", "a"), ("p2", "a"));
        index.Remove("p1", Blob, 3, 2);
        Assert.Equal(["p2"], index.Holders("me", Blob, 4, new Random(7)).Select(p => p.Id));
        Assert.Equal(2, index.Holders("me", Blob, 5, new Random(8)).Count);
        Assert.Equal(3, index.Expire(TimeSpan.FromSeconds(-1)).Count); // everyone is silent "forever"
        Assert.Equal(0, index.BlobCount);
    }

    [Fact]
    public void OriginElection_OnePeerAtATime_ConfigurableToMore()
    {
        var one = new SchedulerIndex();
        Witness(one, "a");
        Witness(one, "b");
        Assert.Equal(Election.Elected, one.ElectOriginFetcher(Blob, 7, "a"));
        Assert.Equal(Election.Wait, one.ElectOriginFetcher(Blob, 7, "b"));
        Assert.Equal(Election.Renewed, one.ElectOriginFetcher(Blob, 7, "a")); // the elected peer asking again keeps its lease
        Assert.True(one.IsBeingFetched(Blob, 7));
        var two = new SchedulerIndex { OriginFetchersPerChunk = 2 };
        foreach (string id in new[] { "a", "b", "c" })
            Witness(two, id);
        Assert.Equal(Election.Elected, two.ElectOriginFetcher(Blob, 7, "a"));
        Assert.Equal(Election.Elected, two.ElectOriginFetcher(Blob, 7, "b"));
        Assert.Equal(Election.Wait, two.ElectOriginFetcher(Blob, 7, "c"));
    }

    [Fact]
    public async Task UploadLimiter_RefusesPastItsSlots_AndPacesToItsRate()
    {
        var limiter = new UploadLimiter(slots: 2, bytesPerSecond: 1 << 20);
        Assert.True(limiter.TryEnter());
        Assert.True(limiter.TryEnter());
        Assert.False(limiter.TryEnter());
        limiter.Exit();
        Assert.True(limiter.TryEnter());
        Assert.Equal(2, limiter.Active);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 8; i++)
            await limiter.PaceAsync(64 << 10, CancellationToken.None); // 512 KiB at 1 MiB/s
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.35, 5);
    }
}
