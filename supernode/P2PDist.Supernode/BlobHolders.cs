using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The peers holding chunks of one blob, each with the run list of the ordinals it holds, in an array so a holder
/// query can sample it from a random start instead of visiting every holder.
/// </summary>
internal sealed class BlobHolders
{
    private readonly List<(PeerState Peer, OrdinalSet Ordinals)> _holders = [];
    private readonly Dictionary<string, int> _position = new(StringComparer.Ordinal);

    public int Count => _holders.Count;

    public OrdinalSet? Find(string peerId) => _position.TryGetValue(peerId, out int at) ? _holders[at].Ordinals : null;

    public OrdinalSet For(PeerState peer)
    {
        if (_position.TryGetValue(peer.Id, out int at))
            return _holders[at].Ordinals;
        var set = new OrdinalSet();
        _position[peer.Id] = _holders.Count;
        _holders.Add((peer, set));
        return set;
    }

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
    /// Up to <paramref name="wanted"/> holders of <paramref name="ordinal"/> accepted by <paramref name="eligible"/>,
    /// visiting holders from a random start: when most holders have the chunk, this looks at about
    /// <paramref name="wanted"/> of them, not all.
    /// </summary>
    public void Sample(uint ordinal, int wanted, Random random, Func<PeerState, bool> eligible, List<PeerState> into)
    {
        int count = _holders.Count;
        if (count == 0)
            return;
        int start = random.Next(count);
        for (int i = 0; i < count && into.Count < wanted; i++)
        {
            var (peer, ordinals) = _holders[(start + i) % count];
            if (ordinals.Contains(ordinal) && eligible(peer))
                into.Add(peer);
        }
    }
}
