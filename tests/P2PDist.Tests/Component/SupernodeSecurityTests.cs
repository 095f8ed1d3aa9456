using System.Diagnostics;
using Grpc.Core;
using P2PDist.Protos.Scheduler;
using P2PDist.Supernode;
using static P2PDist.Tests.Component.InProcessSupernode;

namespace P2PDist.Tests.Component;

/// <summary>
/// The supernode findings of the security review (H1, H2, H3, L5, L6, L7), each proved refused against the
/// real gRPC service in process on a fake clock.
/// </summary>
public sealed class SupernodeSecurityTests
{
    private static async Task<RpcException> RefusedAsync(StatusCode expected, Func<Task> call, string? detail = null)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(expected, error.StatusCode);
        if (detail is not null)
            Assert.Contains(detail, error.Status.Detail);
        return error;
    }

    private static string Blob(int i) => "sha256:" + i.ToString("x64");

    [Fact]
    public async Task H2_AnnounceOfFiftyThousandSparseBlobs_IsRefusedAndMemoryStaysFlat()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("x", "127.0.2.1:7710");
        var hostile = new AnnounceRequest { PeerId = "x" };
        for (int i = 0; i < 45_000; i++)
            hostile.Added.Add(new OrdinalRanges { BlobDigest = Blob(i), Starts = { SchedulerLimits.MaxOrdinal - 1 }, Lengths = { 1 } });
        Assert.InRange(hostile.CalculateSize(), 3 << 20, SchedulerServices.MaxMessageBytes); // fits the gRPC limit: the budgets must refuse it
        // Warm the path (JIT, first call) with a small message over the same budget, so the timing below is the refusal's.
        var warmup = new AnnounceRequest { PeerId = "x" };
        warmup.Added.AddRange(hostile.Added.Take(4097));
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.Client.AnnounceAsync(warmup, deadline: Deadline()).ResponseAsync, "entries");
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.Client.AnnounceAsync(hostile, deadline: Deadline()).ResponseAsync, "entries");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"refusing took {clock.Elapsed.TotalMilliseconds:0} ms"); // serializing and parsing 3.5 MB included
        hostile = null;
        warmup = null;
        long after = GC.GetTotalMemory(forceFullCollection: true);
        // The heap is the test process's: other test classes allocate beside this one, so the bound is loose, and
        // still a hundred times below what the message cost before (about 90 GiB of bitmaps, or an OOM kill).
        Assert.True(after - before < 1L << 30, $"retained {(after - before) >> 20} MiB");
        Assert.Equal(0, supernode.Index.BlobCount);
    }

    [Fact]
    public async Task H2_SparseOrdinalsWithinBudget_CostRunsNotBitmaps_AndBlobsPerPeerAreCapped()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("x", "127.0.2.1:7710");
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var sparse = new AnnounceRequest { PeerId = "x" };
        for (int i = 0; i < 4096; i++)
            sparse.Added.Add(new OrdinalRanges { BlobDigest = Blob(i), Starts = { SchedulerLimits.MaxOrdinal - 1 }, Lengths = { 1 } });
        Assert.True(await supernode.Client.AnnounceAsync(sparse, deadline: Deadline()).ResponseAsync.ContinueWith(t => t.Result.Known));
        sparse = null;
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.Equal(4096, supernode.Index.BlobCount);
        // Loose for the same reason (other classes share the heap); as bitmaps these holdings took 8 GiB.
        Assert.True(after - before < 512L << 20, $"4096 sparse holdings retained {(after - before) >> 20} MiB");
        var more = new AnnounceRequest { PeerId = "x", Added = { new OrdinalRanges { BlobDigest = Blob(5000), Starts = { 0 }, Lengths = { 1 } } } };
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.Client.AnnounceAsync(more, deadline: Deadline()).ResponseAsync, "over 4096 blobs held by one peer");
    }

    [Fact]
    public async Task H2_AnnounceOf65536WholeBlobRanges_IsRefusedInMilliseconds_AndQueriesKeepBeingAnswered()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("x", "127.0.2.1:7710");
        await supernode.RegisterAsync("honest", "127.0.2.2:7710");
        await supernode.AnnounceAsync("honest", BlobA, 0, 8);
        var cpu = new OrdinalRanges { BlobDigest = BlobB };
        for (int i = 0; i < 65_536; i++)
        {
            cpu.Starts.Add(0);
            cpu.Lengths.Add(SchedulerLimits.MaxOrdinal); // 2^40 ordinals in all: bit at a time, minutes under the lock
        }
        var clock = Stopwatch.StartNew();
        var refused = RefusedAsync(StatusCode.InvalidArgument, () => supernode.Client.AnnounceAsync(new AnnounceRequest { PeerId = "x", Added = { cpu } }, deadline: Deadline()).ResponseAsync, "ascend");
        Assert.Equal(["honest"], await supernode.HolderIdsAsync("x", BlobA, 3));
        await refused;
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed.TotalMilliseconds:0} ms");
        // The legitimate shape of the same size, 65 536 ascending ranges, is applied in one linear merge.
        var wide = new OrdinalRanges { BlobDigest = BlobB };
        for (uint i = 0; i < 65_536; i++)
        {
            wide.Starts.Add(i * 256);
            wide.Lengths.Add(255);
        }
        clock.Restart();
        Assert.True((await supernode.Client.AnnounceAsync(new AnnounceRequest { PeerId = "x", Added = { wide } }, deadline: Deadline())).Known);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(["x"], await supernode.HolderIdsAsync("honest", BlobB, 256 * 1000 + 17));
        Assert.Empty(await supernode.HolderIdsAsync("honest", BlobB, 256 * 1000 + 255));
    }

    [Fact]
    public async Task H2_RequestsOverThePeersRate_AreRefusedUntilTheBucketRefills()
    {
        await using var supernode = await StartAsync(limits: l => l with { RequestsPerSecond = 5, RequestBurst = 10 });
        await supernode.RegisterAsync("chatty", "127.0.2.1:7710");
        for (int i = 0; i < 10; i++)
            await supernode.FindAsync("chatty", BlobA, true, 0);
        await RefusedAsync(StatusCode.ResourceExhausted, () => supernode.FindAsync("chatty", BlobA, true, 0), "requests per second");
        supernode.Clock.Advance(TimeSpan.FromSeconds(1));
        for (int i = 0; i < 5; i++)
            await supernode.FindAsync("chatty", BlobA, true, 0);
        await RefusedAsync(StatusCode.ResourceExhausted, () => supernode.FindAsync("chatty", BlobA, true, 0));
    }

    [Fact]
    public async Task H2_PeersPastTheLimit_AreRefused()
    {
        await using var supernode = await StartAsync(limits: l => l with { MaxPeers = 3 });
        for (int i = 0; i < 3; i++)
            await supernode.RegisterAsync($"p{i}", $"127.0.2.{i + 1}:7710");
        await RefusedAsync(StatusCode.ResourceExhausted, () => supernode.RegisterAsync("p3", "127.0.2.9:7710"), "limit of 3 peers");
    }

    [Fact]
    public async Task H1_ReRegistrationFromAnotherAddress_IsRefused_UntilTheVictimsRegistrationExpires()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("victim", "127.0.2.1:7710");
        await supernode.RegisterAsync("asker", "127.0.2.3:7710");
        await supernode.AnnounceAsync("victim", BlobA, 0, 4);
        await RefusedAsync(StatusCode.AlreadyExists, () => supernode.RegisterAsync("victim", "127.0.2.66:7710"), "another address");
        var holder = (await supernode.FindAsync("asker", BlobA, true, 0)).Chunks[0].Holders.Single();
        Assert.Equal("127.0.2.1:7710", holder.Address); // holdings and address untouched
        await supernode.RegisterAsync("victim", "127.0.2.1:7710"); // the peer itself, restarted at its address: fine
        Assert.Single((await supernode.FindAsync("asker", BlobA, true, 0)).Chunks[0].Holders);
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(16), () => !supernode.Index.IsKnown("victim"));
        await supernode.RegisterAsync("victim", "127.0.2.66:7710"); // expired: the id is free again
    }

    [Fact]
    public async Task H1_OneReporter_CannotBlockAnHonestPeer_AndReportsAboutPeersNeverHandedToTheReporterDoNotCount()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("honest", "127.0.2.1:7710");
        await supernode.RegisterAsync("evil", "127.0.2.2:7710");
        await supernode.RegisterAsync("evil2", "127.0.2.3:7710");
        await supernode.RegisterAsync("reader", "127.0.2.4:7710");
        await supernode.AnnounceAsync("honest", BlobA, 0, 4);
        Task<ReportResponse> Report(string reporter) =>
            supernode.Client.ReportAsync(new ReportRequest { PeerId = reporter, BadPeerId = "honest", Fault = Fault.BadDigest }, deadline: Deadline()).ResponseAsync;

        Assert.False((await Report("evil")).Blocked); // never handed "honest": not counted
        Assert.False((await Report("evil2")).Blocked);
        Assert.Contains(supernode.Logs, l => l.Contains("not counted", StringComparison.Ordinal));
        Assert.Equal(["honest"], await supernode.HolderIdsAsync("evil", BlobA, 0));
        Assert.False((await Report("evil")).Blocked); // handed now, but one reporter is not enough
        Assert.False((await Report("evil")).Blocked); // nor is the same one again
        Assert.Equal(["honest"], await supernode.HolderIdsAsync("reader", BlobA, 0));
        Assert.False(supernode.Index.IsBlocked("honest"));
        Assert.True((await Report("reader")).Blocked); // a second reporter that was sent to it
    }

    [Fact]
    public async Task H1_TransferSamplesAboutPeersNotHandedToTheReporter_AreIgnored_AndDeclaredCapacityIsBounded()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("liar", "127.0.2.1:7710", capacity: long.MaxValue);
        await supernode.RegisterAsync("honest", "127.0.2.2:7710", capacity: 100_000_000);
        await supernode.RegisterAsync("reader", "127.0.2.3:7710");
        await supernode.AnnounceAsync("liar", BlobA, 0, 4);
        await supernode.AnnounceAsync("honest", BlobA, 0, 4);
        // A stranger's samples about the honest peer (it was never sent there) change nothing.
        await supernode.RegisterAsync("evil", "127.0.2.4:7710");
        await supernode.Client.AnnounceAsync(new AnnounceRequest { PeerId = "evil", Transfers = { new TransferSample { FromPeerId = "honest", Bytes = 1, Micros = 10_000_000 } } }, deadline: Deadline());
        Assert.Equal(0, supernode.Index.MeasuredBytesPerSecond("honest"));
        // The liar's infinite declaration is clamped, then bounded by what a reader it was sent to measured.
        Assert.Equal("liar", (await supernode.HolderIdsAsync("reader", BlobA, 0))[0]);
        await supernode.Client.AnnounceAsync(new AnnounceRequest { PeerId = "reader", Transfers = { new TransferSample { FromPeerId = "liar", Bytes = 1 << 20, Micros = 10_000_000 } } }, deadline: Deadline());
        Assert.Equal("honest", (await supernode.HolderIdsAsync("reader", BlobA, 0))[0]);
    }

    [Fact]
    public async Task H1_FindHoldersFromAnUnregisteredCaller_IsRefused()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("holder", "127.0.2.1:7710");
        await supernode.AnnounceAsync("holder", BlobA, 0, 4);
        await RefusedAsync(StatusCode.NotFound, () => supernode.FindAsync("stranger", BlobA, false, 0), "not registered");
    }

    [Fact]
    public async Task H3_SquatterRenewingWithoutProgress_LosesItsLeases_IsDemoted_AndRenewalsAreNotCountedAsElections()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("squatter", "127.0.2.1:7710");
        await supernode.RegisterAsync("reader", "127.0.2.2:7710");
        uint[] ordinals = Enumerable.Range(0, 64).Select(i => (uint)i).ToArray();
        var elected = supernode.Metrics.OriginElections.WithLabels("elected");
        Assert.Equal(0, elected.Value); // this supernode's own count: no other test's elections in it
        Assert.All((await supernode.FindAsync("squatter", BlobA, false, ordinals)).Chunks, c => Assert.True(c.FetchFromOrigin));
        // It renews every 2 s and heartbeats, but never announces a chunk.
        for (int second = 2; second <= 28; second += 2)
        {
            await supernode.AdvanceAsync(TimeSpan.FromSeconds(2));
            await supernode.AnnounceAsync("squatter");
            await supernode.AnnounceAsync("reader");
            Assert.All((await supernode.FindAsync("squatter", BlobA, false, ordinals)).Chunks, c => Assert.True(c.FetchFromOrigin));
            Assert.True((await supernode.FindAsync("reader", BlobA, false, 5)).Chunks[0].AnotherPeerFetching);
        }
        Assert.Equal(64, elected.Value); // 14 rounds of renewals: still 64 elections
        for (int second = 30; second <= 32; second += 2)
        {
            await supernode.AdvanceAsync(TimeSpan.FromSeconds(2));
            await supernode.AnnounceAsync("squatter");
            await supernode.AnnounceAsync("reader");
            await supernode.FindAsync("squatter", BlobA, false, ordinals); // 30 s without progress: renewals no longer extend
        }
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(2), () => supernode.Index.IsDemoted("squatter")); // 64 leases ran out unannounced
        Assert.Equal(0, supernode.Index.LeaseCount);
        Assert.True((await supernode.FindAsync("reader", BlobA, false, 5)).Chunks[0].FetchFromOrigin); // the reader is elected now
        var again = await supernode.FindAsync("squatter", BlobB, false, ordinals);
        Assert.Equal(2, again.Chunks.Count(c => c.FetchFromOrigin)); // demoted: two leases at a time
        Assert.DoesNotContain(again.Chunks, c => c.AnotherPeerFetching);
    }

    [Fact]
    public async Task H3_LeasesPerPeer_AreBounded()
    {
        await using var supernode = await StartAsync(limits: l => l with { MaxLeasesPerPeer = 100 });
        await supernode.RegisterAsync("greedy", "127.0.2.1:7710");
        await supernode.RegisterAsync("reader", "127.0.2.2:7710");
        var reply = await supernode.FindAsync("greedy", BlobA, false, Enumerable.Range(0, 4096).Select(i => (uint)i).ToArray());
        Assert.Equal(100, reply.Chunks.Count(c => c.FetchFromOrigin));
        Assert.Equal(100, supernode.Index.LeaseCount);
        Assert.True((await supernode.FindAsync("reader", BlobA, false, 4000)).Chunks[0].FetchFromOrigin); // past the greedy one's leases nobody waits
    }

    [Theory]
    [InlineData("0.0.0.0:7710", "unspecified")]
    [InlineData("[::]:7710", "unspecified")]
    [InlineData("224.0.0.1:7710", "multicast")]
    [InlineData("[ff02::1]:7710", "multicast")]
    [InlineData("169.254.169.254:80", "link-local")]
    [InlineData("[fe80::1]:7710", "link-local")]
    [InlineData("255.255.255.255:7710", "broadcast")]
    [InlineData("10.0.0.1", "not ip:port")]
    [InlineData("example.com:7710", "not ip:port")]
    [InlineData("10.0.0.1:0", "not ip:port")]
    public async Task L5_RegisterWithANonUnicastAddress_IsRefused(string address, string expected)
    {
        await using var supernode = await StartAsync();
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.RegisterAsync("p", address), expected);
        Assert.False(supernode.Index.IsKnown("p"));
    }

    [Fact]
    public async Task L5_LoopbackIsRefused_WhenTheOptionIsOff_AndAddressesAreStoredNormalized()
    {
        await using (var strict = await StartAsync(new SupernodeOptions { AllowLoopbackAddresses = false }))
            await RefusedAsync(StatusCode.InvalidArgument, () => strict.RegisterAsync("p", "127.0.0.1:7710"), "loopback");
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("mapped", "[::ffff:10.1.2.3]:07710");
        await supernode.RegisterAsync("asker", "10.1.2.4:7710");
        await supernode.AnnounceAsync("mapped", BlobA, 0, 1);
        Assert.Equal("10.1.2.3:7710", (await supernode.FindAsync("asker", BlobA, true, 0)).Chunks[0].Holders.Single().Address);
    }

    [Fact]
    public async Task L6_QueriesUnderADeadPeersId_DoNotKeepItListed()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("dead", "127.0.2.1:7710");
        await supernode.AnnounceAsync("dead", BlobA, 0, 4);
        for (int second = 4; second <= 16; second += 4)
        {
            await supernode.AdvanceAsync(TimeSpan.FromSeconds(4));
            if (supernode.Index.IsKnown("dead"))
                await supernode.FindAsync("dead", BlobA, true, 0); // someone who knows the id keeps asking under it
        }
        await supernode.AdvanceAsync(TimeSpan.FromSeconds(1), () => !supernode.Index.IsKnown("dead"));
        Assert.Equal(0, supernode.Index.BlobCount);
    }

    [Theory]
    [InlineData("evil\u001b[31mred")]
    [InlineData("line\rbreak")]
    [InlineData("spa ce")]
    [InlineData("slash/id")]
    public async Task L7_PeerIdsOutsideTheSafeCharset_AreRefused_AndNeverReachTheLogRaw(string id)
    {
        await using var supernode = await StartAsync();
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.RegisterAsync(id, "127.0.2.1:7710"), "A-Z a-z 0-9");
        Assert.DoesNotContain(supernode.Logs, l => l.Any(char.IsControl)); // echoed in the refusal, but never a control character
        await RefusedAsync(StatusCode.InvalidArgument, () => supernode.RegisterAsync(new string('a', 129), "127.0.2.1:7710"), "peer id");
        await supernode.RegisterAsync("host-1.example:0123_ab", "127.0.2.1:7710");
    }

    [Fact]
    public async Task L7_ReportDetailsWithControlCharacters_AreLoggedSanitized()
    {
        await using var supernode = await StartAsync();
        await supernode.RegisterAsync("a", "127.0.2.1:7710");
        await supernode.RegisterAsync("b", "127.0.2.2:7710");
        await supernode.Client.ReportAsync(new ReportRequest { PeerId = "a", BadPeerId = "b", Fault = Fault.Timeout, Detail = "ok\r\u001b[2Jforged line\nnext" }, deadline: Deadline());
        string line = Assert.Single(supernode.Logs, l => l.Contains("reported b", StringComparison.Ordinal));
        Assert.DoesNotContain('\u001b', line);
        Assert.DoesNotContain('\r', line);
        Assert.DoesNotContain('\n', line);
        Assert.Contains("ok??[2Jforged line?next", line);
    }
}
