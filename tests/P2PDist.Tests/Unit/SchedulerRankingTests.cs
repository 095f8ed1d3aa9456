using Microsoft.Extensions.Time.Testing;
using P2PDist.Peer.P2P;
using P2PDist.Supernode;

namespace P2PDist.Tests.Unit;

/// <summary>How the supernode ranks holders, and the peer's upload limiter.</summary>
public sealed class SchedulerRankingTests
{
    private const string Blob = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    private static SchedulerIndex IndexWith(params (string Id, string Zone)[] peers) => IndexWith(new SchedulerIndex(), peers);

    private static SchedulerIndex IndexWith(SchedulerIndex index, params (string Id, string Zone)[] peers)
    {
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
        var clock = new FakeTimeProvider();
        var index = IndexWith(new SchedulerIndex { Clock = clock }, ("p1", "a"), ("p2", "a"));
        index.Remove("p1", Blob, 3, 2);
        Assert.Equal(["p2"], index.Holders("me", Blob, 4, new Random(7)).Select(p => p.Id));
        Assert.Equal(2, index.Holders("me", Blob, 5, new Random(8)).Count);
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(index.Expire(TimeSpan.FromSeconds(30))); // silent for exactly the timeout: not yet
        index.Touch("p2");
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["me", "p1"], index.Expire(TimeSpan.FromSeconds(30)).Order(StringComparer.Ordinal)); // p2 spoke a second ago
        Assert.Equal(["p2"], index.Holders("me", Blob, 0, new Random(9), assign: false).Select(p => p.Id));
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(["p2"], index.Expire(TimeSpan.FromSeconds(30)));
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
    public void UploadLimiter_RefusesPastItsSlots()
    {
        var limiter = new UploadLimiter(slots: 2, bytesPerSecond: 0);
        Assert.True(limiter.TryEnter());
        Assert.True(limiter.TryEnter());
        Assert.False(limiter.TryEnter());
        Assert.Equal(2, limiter.Active); // the refused attempt took nothing
        limiter.Exit();
        Assert.True(limiter.TryEnter());
        Assert.Equal(2, limiter.Active);
    }

    // Task.Delay(TimeSpan, TimeProvider) waits whole milliseconds, so the checks below leave a millisecond or more either side.
    [Fact]
    public async Task UploadLimiter_PacesToItsRate()
    {
        var clock = new FakeTimeProvider();
        var limiter = new UploadLimiter(slots: 2, bytesPerSecond: 1_000_000, clock);
        // Pieces of 64,000 bytes at 1 MB/s: each owes 64 ms, however fast the caller asks.
        for (int i = 0; i < 8; i++)
        {
            var pace = limiter.PaceAsync(64_000, CancellationToken.None).AsTask();
            clock.Advance(TimeSpan.FromMilliseconds(62));
            Assert.False(pace.IsCompleted, $"piece {i} was let through after 62 ms of its 64");
            clock.Advance(TimeSpan.FromMilliseconds(2));
            await pace.WaitAsync(TimeSpan.FromSeconds(10)); // a real-time bound only in case it never completes
        }
    }

    [Fact]
    public async Task UploadLimiter_AfterIdling_BurstsAtMost100MsOfItsRate()
    {
        var clock = new FakeTimeProvider();
        var limiter = new UploadLimiter(slots: 1, bytesPerSecond: 1_000_000, clock);
        clock.Advance(TimeSpan.FromMinutes(1)); // a long idle saves up no more than a tenth of a second of rate
        Assert.True(limiter.PaceAsync(100_000, CancellationToken.None).IsCompleted); // the 100,000 bytes saved, sent at once
        var next = limiter.PaceAsync(64_000, CancellationToken.None).AsTask(); // nothing left: owes 64 ms
        clock.Advance(TimeSpan.FromMilliseconds(62));
        Assert.False(next.IsCompleted, "the burst after idling was more than 100 ms of rate");
        clock.Advance(TimeSpan.FromMilliseconds(2));
        await next.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void UploadLimiter_WithoutARate_NeverWaits()
    {
        var limiter = new UploadLimiter(slots: 1, bytesPerSecond: 0, new FakeTimeProvider());
        Assert.True(limiter.PaceAsync(64 << 20, CancellationToken.None).IsCompleted);
    }
}
