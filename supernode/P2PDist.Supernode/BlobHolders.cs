using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The peers holding chunks of one blob, each with the run list of the ordinals it holds, in an array so a holder
/// query can sample it from a random start instead of visiting every holder, and the
/// <see cref="SparseHolderHints"/> that find the few holders of a chunk few peers have yet.
/// </summary>
internal sealed class BlobHolders
{
    private readonly List<(PeerState Peer, OrdinalSet Ordinals)> _holders = [];
    private readonly Dictionary<string, int> _position = new(StringComparer.Ordinal);
    private readonly SparseHolderHints _hints = new();

    /// <summary>Holders a scan visits at most: with the hints, a chunk held by few is found without one.</summary>
    public const int MaxScan = 1024;

    /// <summary>
    /// Holders a scan of a popular chunk visits: enough to find <c>wanted</c> of them at once when most holders
    /// have it (spreading its uploads over every holder), cheap when few do yet (the hints then answer).
    /// </summary>
    public const int PopularScan = 64;

    public int Count => _holders.Count;

    public OrdinalSet? Find(string peerId) => _position.TryGetValue(peerId, out int at) ? _holders[at].Ordinals : null;

    private OrdinalSet For(PeerState peer)
    {
        if (_position.TryGetValue(peer.Id, out int at))
            return _holders[at].Ordinals;
        var set = new OrdinalSet();
        _position[peer.Id] = _holders.Count;
        _holders.Add((peer, set));
        return set;
    }

    /// <summary>Adds the announced ranges to the peer's set and to the hints, within the announcement's index budget.</summary>
    public OrdinalSet Add(PeerState peer, IReadOnlyList<uint> starts, IReadOnlyList<uint> lengths, ref int indexBudget)
    {
        var set = For(peer);
        set.AddSorted(starts, lengths);
        for (int i = 0; i < starts.Count; i++)
            _hints.Note(peer.Id, starts[i], lengths[i], ref indexBudget);
        return set;
    }

    public int IndexedOrdinals => _hints.IndexedOrdinals;

    /// <summary>Swap-remove: O(1), order does not matter.</summary>
    public void Remove(string peerId)
    {
        if (!_position.Remove(peerId, out int at))
            return;
        int last = _holders.Count - 1;
        if (at != last)
        {
            _holders[at] = _holders[last];
            _position[_holders[at].Peer.Id] = at;
        }
        _holders.RemoveAt(last);
    }

    /// <summary>
    /// Up to <paramref name="wanted"/> holders of <paramref name="ordinal"/> accepted by <paramref name="eligible"/>.
    /// A chunk with few holders: the hinted ones (each checked against its set), then, unless the hints are
    /// known to name every holder, a scan from a random start of at most <see cref="MaxScan"/> holders. A
    /// popular chunk (more holders than hints): a short scan first, so its uploads spread over all holders, not the
    /// hinted few, then the hints; when most holders have it, the scan looks at about <paramref name="wanted"/> of them.
    /// </summary>
    public void Sample(uint ordinal, int wanted, Random random, Func<PeerState, bool> eligible, List<PeerState> into)
    {
        if (_holders.Count == 0)
            return;
        var hints = _hints.For(ordinal);
        if (hints is { Overflowed: true })
        {
            Scan(ordinal, wanted, PopularScan, random, eligible, into);
            TakeHinted(hints, ordinal, wanted, random, eligible, into);
            return;
        }
        if (hints is not null)
            TakeHinted(hints, ordinal, wanted, random, eligible, into);
        if (!_hints.Complete && into.Count < wanted)
            Scan(ordinal, wanted, MaxScan, random, eligible, into);
    }

    private void Scan(uint ordinal, int wanted, int maxVisits, Random random, Func<PeerState, bool> eligible, List<PeerState> into)
    {
        int count = _holders.Count;
        int start = random.Next(count);
        int visits = Math.Min(count, maxVisits);
        for (int i = 0; i < visits && into.Count < wanted; i++)
        {
            var (peer, ordinals) = _holders[(start + i) % count];
            if (ordinals.Contains(ordinal) && eligible(peer) && !into.Contains(peer))
                into.Add(peer);
        }
    }

    /// <summary>Adds the hinted holders that still hold the chunk, dropping stale hints.</summary>
    private void TakeHinted(SparseHolderHints.Hints hints, uint ordinal, int wanted, Random random, Func<PeerState, bool> eligible, List<PeerState> into)
    {
        var ids = hints.PeerIds;
        int hinted = ids.Count, offset = hinted == 0 ? 0 : random.Next(hinted);
        List<string>? stale = null;
        for (int i = 0; i < hinted; i++)
        {
            string id = ids[(offset + i) % hinted];
            if (!_position.TryGetValue(id, out int position) || !_holders[position].Ordinals.Contains(ordinal))
            {
                (stale ??= []).Add(id); // the peer left or evicted the chunk
                continue;
            }
            var peer = _holders[position].Peer;
            if (into.Count < wanted && eligible(peer) && !into.Contains(peer))
                into.Add(peer);
        }
        foreach (string id in stale ?? [])
            ids.Remove(id);
        if (ids.Count == 0 && !hints.Overflowed)
            _hints.Forget(ordinal);
    }
}
