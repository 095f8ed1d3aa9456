using P2PDist.Peer.P2P;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Tests.Unit;

/// <summary>The shared rules of the control plane: ordinal sets, ids, addresses, timings.</summary>
public sealed class ControlPlaneRulesTests
{
    [Fact]
    public void OrdinalSet_RandomAddsAndRemoves_MatchAPlainSet()
    {
        var random = new Random(11);
        var set = new OrdinalSet();
        var model = new HashSet<uint>();
        for (int i = 0; i < 3000; i++)
        {
            uint start = (uint)random.Next(2000), length = (uint)random.Next(1, 40);
            bool add = random.Next(3) > 0;
            if (add)
                set.AddRange(start, length);
            else
                set.RemoveRange(start, length);
            for (uint o = start; o < start + length; o++)
            {
                if (add)
                    model.Add(o);
                else
                    model.Remove(o);
            }
        }
        Assert.Equal(model.Count, set.Count);
        Assert.All(Enumerable.Range(0, 2100).Select(o => (uint)o), o => Assert.Equal(model.Contains(o), set.Contains(o)));
        var ranges = set.ToRanges("b");
        var rebuilt = new OrdinalSet();
        rebuilt.AddSorted(ranges.Starts, ranges.Lengths);
        Assert.Equal(ranges.Starts, rebuilt.ToRanges("b").Starts);
        Assert.Equal(set.RunCount, ranges.Starts.Count);
    }

    [Fact]
    public void OrdinalSet_SortedMergeAndSubtract_MatchOneAtATime()
    {
        var random = new Random(12);
        for (int round = 0; round < 50; round++)
        {
            var bulk = new OrdinalSet();
            var single = new OrdinalSet();
            bulk.AddRange(0, 100);
            single.AddRange(0, 100);
            foreach (bool add in new[] { true, false, true })
            {
                var starts = new List<uint>();
                var lengths = new List<uint>();
                uint at = (uint)random.Next(5);
                while (at < 3000)
                {
                    uint length = (uint)random.Next(1, 30);
                    starts.Add(at);
                    lengths.Add(length);
                    at += length + (uint)random.Next(0, 30);
                }
                if (add)
                    bulk.AddSorted(starts, lengths);
                else
                    bulk.RemoveSorted(starts, lengths);
                for (int i = 0; i < starts.Count; i++)
                {
                    if (add)
                        single.AddRange(starts[i], lengths[i]);
                    else
                        single.RemoveRange(starts[i], lengths[i]);
                }
                Assert.Equal(single.ToRanges("b").Starts, bulk.ToRanges("b").Starts);
                Assert.Equal(single.ToRanges("b").Lengths, bulk.ToRanges("b").Lengths);
                Assert.Equal(single.Count, bulk.Count);
            }
        }
    }

    [Fact]
    public void H2_OrdinalSet_HugeRangesAndFarOrdinals_CostOneRunEach()
    {
        var set = new OrdinalSet();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 65_536; i++)
            set.AddRange(0, 1 << 24); // was 2^24 bit operations each
        set.Add(uint.MaxValue - 1);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(2, set.RunCount);
        Assert.Equal((1 << 24) + 1, set.Count);
        Assert.True(set.Contains(uint.MaxValue - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.AddRange(uint.MaxValue, 2));
    }

    [Theory]
    [InlineData("127.0.2.5:7710", true, "127.0.2.5:7710")]
    [InlineData("[::ffff:10.0.0.1]:80", true, "10.0.0.1:80")]
    [InlineData("[2001:db8::1]:7710", true, "[2001:db8::1]:7710")]
    [InlineData("127.0.0.1:7710", false, null)]
    [InlineData("10.0.0.1:7710/../admin", true, null)]
    [InlineData("evil.example:80", true, null)]
    [InlineData("169.254.169.254:80", true, null)]
    [InlineData("[fe80::1%2]:80", true, null)]
    public void L5_PeerAddresses_OnlyUnicastIpAndPort(string text, bool allowLoopback, string? expected) =>
        Assert.Equal(expected, PeerAddresses.Normalize(text, allowLoopback, out _));

    [Fact]
    public async Task L5_HolderAddressThatIsNotUnicast_IsNeverContacted()
    {
        using var client = new PeerChunkClient(System.Net.IPAddress.Loopback, TimeSpan.FromSeconds(1));
        foreach (string address in new[] { "169.254.169.254:80", "evil.example:80", "127.0.0.1:1/x?y=", "224.0.0.1:80" })
        {
            var result = await client.GetAsync(address, "holder", "blake3-" + new string('0', 64), 10, CancellationToken.None);
            Assert.Equal(PeerChunkClient.Outcome.BadAddress, result.Outcome);
        }
    }

    [Fact]
    public void L7_PeerIdentity_KeepsItsGuidWhateverTheHostNameLength_AndOnlySafeCharacters()
    {
        string id = PeerIdentity.Create(new string('h', 300) + "\u001b[31m");
        Assert.True(PeerIds.IsValid(id), id);
        Assert.Matches("^h{40}-[0-9a-f]{32}$", id);
        Assert.NotEqual(id, PeerIdentity.Create(new string('h', 300)));
        Assert.Matches("^bad-host-name-[0-9a-f]{32}$", PeerIdentity.Create("bad host\nname"));
    }

    [Fact]
    public void ProtocolTimings_Defaults_AreConsistent_AndBadRelationsAreNamed()
    {
        ProtocolTimings.Default.Validate();
        Assert.Equal(TimeSpan.FromSeconds(2), ProtocolTimings.Default.LeaseRenewal);
        var error = Assert.Throws<ArgumentException>(() => (ProtocolTimings.Default with { PeerTimeout = TimeSpan.FromSeconds(6) }).Validate());
        Assert.Contains("two heartbeats", error.Message);
        error = Assert.Throws<ArgumentException>(() => (ProtocolTimings.Default with { WaitForOtherFetcher = TimeSpan.FromSeconds(4) }).Validate());
        Assert.Contains("must outlast its lease", error.Message);
        var followed = ProtocolTimings.Default.FollowSupernode(new RegisterResponse { HeartbeatIntervalMs = 700, OriginLeaseMs = 3000 });
        Assert.Equal(TimeSpan.FromMilliseconds(700), followed.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(1.2), followed.LeaseRenewal);
    }
}
