using P2PDist.Supernode;
using static P2PDist.Tests.Component.InProcessSupernode;

namespace P2PDist.Tests.Component;

/// <summary>The supernode's time-driven behaviour, in process on a fake clock: expiry, blocks, election leases.</summary>
public sealed class SupernodeTimingTests
{
    [Fact]
    public async Task PeerExpiry_MissedHeartbeats_DropThePeerWithItsHoldings_WhileABeatingPeerStays()
    {
        await using var supernode = await StartAsync(); // peers time out after 15 s
        await supernode.RegisterAsync("silent", "127.0.2.1:7710");
        await supernode.RegisterAsync("beating", "127.0.2.2:7710");
        await supernode.RegisterAsync("asker", "127.0.2.3:7710");
        Assert.True(await supernode.AnnounceAsync("silent", BlobA, 0, 4));
        Assert.True(await supernode.AnnounceAsync("beating", BlobA, 0, 4));
        for (int second = 5; second <= 30; second += 5)
        {
            await supernode.AdvanceAsync(TimeSpan.FromSeconds(5));
            await supernode.AnnounceAsync("beating");
            await supernode.AnnounceAsync("asker");
        }
        Assert.False(supernode.Index.IsKnown("silent"));
        Assert.Equal(["beating"], await supernode.HolderIdsAsync("asker", BlobA, 2));
        Assert.False(await supernode.AnnounceAsync("silent")); // told to register again
    }

    [Fact]
    public async Task Register_TellsThePeerTheHeartbeatAndLease_DerivedFromThePeerTimeout()
    {
        await using var supernode = await StartAsync(new SupernodeOptions { PeerTimeoutSeconds = 2, OriginLeaseSeconds = 3 });
        var reply = await supernode.Client.RegisterAsync(new P2PDist.Protos.Scheduler.RegisterRequest { PeerId = "p", Address = "127.0.2.1:7710" }, deadline: Deadline());
        Assert.Equal(666, reply.HeartbeatIntervalMs); // three beats per timeout
        Assert.Equal(3000, reply.OriginLeaseMs);
    }

    [Fact]
    public async Task Block_ByTwoReporters_EndsAfterBlockFor()
    {
        await using var supernode = await StartAsync(new SupernodeOptions { PeerTimeoutSeconds = 86400, BlockSeconds = 600 });
        await supernode.RegisterAsync("bad", "127.0.2.1:7710");
        await supernode.RegisterAsync("r1", "127.0.2.2:7710");
        await supernode.RegisterAsync("r2", "127.0.2.3:7710");
        await supernode.AnnounceAsync("bad", BlobA, 0, 4);
        foreach (string reporter in new[] { "r1", "r2" })
        {
            Assert.Equal(["bad"], await supernode.HolderIdsAsync(reporter, BlobA, 0));
            await supernode.Client.ReportAsync(new() { PeerId = reporter, BadPeerId = "bad", Fault = P2PDist.Protos.Scheduler.Fault.BadDigest }, deadline: Deadline());
        }
        Assert.Empty(await supernode.HolderIdsAsync("r1", BlobA, 0));
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(599));
        Assert.Empty(await supernode.HolderIdsAsync("r1", BlobA, 0));
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(2), () => !supernode.Index.IsBlocked("bad"));
        Assert.Equal(["bad"], await supernode.HolderIdsAsync("r1", BlobA, 0));
    }

    [Fact]
    public async Task OriginElection_LeaseRunsOut_AndTheNextAskerIsElected()
    {
        await using var supernode = await StartAsync(new SupernodeOptions { OriginLeaseSeconds = 5 });
        await supernode.RegisterAsync("first", "127.0.2.1:7710");
        await supernode.RegisterAsync("second", "127.0.2.2:7710");
        Assert.True((await supernode.FindAsync("first", BlobA, false, 7)).Chunks[0].FetchFromOrigin);
        var waiting = (await supernode.FindAsync("second", BlobA, false, 7)).Chunks[0];
        Assert.False(waiting.FetchFromOrigin);
        Assert.True(waiting.AnotherPeerFetching);
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(6), () => supernode.Index.LeaseCount == 0);
        Assert.False((await supernode.FindAsync("second", BlobA, true, 7)).Chunks[0].AnotherPeerFetching);
        Assert.True((await supernode.FindAsync("second", BlobA, false, 7)).Chunks[0].FetchFromOrigin);
    }

    [Fact]
    public async Task OriginElection_ElectedPeerAnnouncingTheChunk_EndsItsLease()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("fetcher", "127.0.2.1:7710");
        Assert.True((await supernode.FindAsync("fetcher", BlobA, false, 3, 4)).Chunks.All(c => c.FetchFromOrigin));
        Assert.Equal(2, supernode.Index.LeaseCount);
        await supernode.AnnounceAsync("fetcher", BlobA, 3, 2);
        Assert.Equal(0, supernode.Index.LeaseCount);
        Assert.False(supernode.Index.IsDemoted("fetcher"));
    }
}
