using P2PDist.Supernode;

namespace P2PDist.Tests.Unit;

/// <summary>
/// Finding the few holders of a chunk among thousands of holders of its blob: hints from small announcements,
/// checked against each holder's set, and a bounded scan for what bulk announcements added.
/// </summary>
public sealed class SparseHolderTests
{
    private const string Blob = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const int Holders = 3_000;

    /// <summary>Peer p holds chunk p only: every chunk has exactly one holder among 3,000.</summary>
    private static SchedulerIndex OneHolderPerChunk()
    {
        var index = new SchedulerIndex();
        Assert.Equal(Registration.Registered, index.Register(new PeerState("me", "127.0.2.1:1", new Dictionary<string, string>(), 0, 0)));
        for (int p = 0; p < Holders; p++)
        {
            Assert.Equal(Registration.Registered, index.Register(new PeerState($"peer-{p}", $"127.0.{p / 250 + 10}.{p % 250 + 1}:1", new Dictionary<string, string>(), 0, 4)));
            index.Add($"peer-{p}", Blob, (uint)p, 1);
        }
        return index;
    }

    [Fact]
    public void AChunkOneOfThousandsHolds_IsFound_ForEveryChunk()
    {
        var index = OneHolderPerChunk();
        var random = new Random(5);
        for (int p = 0; p < Holders; p += 97)
            Assert.Equal([$"peer-{p}"], index.Holders("me", Blob, (uint)p, random, assign: false).Select(h => h.Id));
        Assert.Empty(index.Holders("me", Blob, Holders + 1, random));
    }

    [Fact]
    public void AHintWhoseHolderEvictedTheChunk_IsNeverHandedOut()
    {
        var index = OneHolderPerChunk();
        index.Remove("peer-42", Blob, 42, 1);
        Assert.Empty(index.Holders("me", Blob, 42, new Random(6)));
        index.Add("peer-7", Blob, 42, 1); // another peer fetches it later: the hints learn it
        Assert.Equal(["peer-7"], index.Holders("me", Blob, 42, new Random(7), assign: false).Select(h => h.Id));
    }

    [Fact]
    public void ChunksOfABulkAnnouncement_PastTheIndexBudget_AreFoundByTheScan()
    {
        var index = new SchedulerIndex();
        index.Register(new PeerState("me", "127.0.2.1:1", new Dictionary<string, string>(), 0, 0));
        index.Register(new PeerState("restarted", "127.0.2.2:1", new Dictionary<string, string>(), 0, 4));
        index.Register(new PeerState("fresh", "127.0.2.3:1", new Dictionary<string, string>(), 0, 4));
        index.Add("restarted", Blob, 0, SparseHolderHints.OrdinalsPerAnnouncement + 1); // its whole cache at once
        index.Add("fresh", Blob, 5, 1);
        Assert.Equal(["restarted"], index.Holders("me", Blob, 90_000 % (SparseHolderHints.OrdinalsPerAnnouncement + 1), new Random(8), assign: false).Select(h => h.Id));
        Assert.Equal(["fresh", "restarted"], index.Holders("me", Blob, 5, new Random(9), assign: false).Select(h => h.Id).Order());
    }

    [Fact]
    public void APopularChunk_PastTheHintsPerChunk_StillSpreadsOverAllItsHolders()
    {
        var index = new SchedulerIndex();
        index.Register(new PeerState("me", "127.0.2.1:1", new Dictionary<string, string>(), 0, 0));
        const int popular = SparseHolderHints.PerOrdinal * 4;
        for (int p = 0; p < popular; p++)
        {
            index.Register(new PeerState($"peer-{p}", $"127.0.3.{p + 1}:1", new Dictionary<string, string>(), 0, 4));
            index.Add($"peer-{p}", Blob, 3, 1);
        }
        var random = new Random(10);
        var seen = new HashSet<string>();
        for (int query = 0; query < 200; query++)
        {
            var found = index.Holders("me", Blob, 3, random, limit: 8, assign: false);
            Assert.Equal(8, found.Count);
            Assert.Equal(8, found.Select(h => h.Id).Distinct().Count());
            seen.UnionWith(found.Select(h => h.Id));
        }
        Assert.Equal(popular, seen.Count); // not only the 32 hinted ones
    }
}
