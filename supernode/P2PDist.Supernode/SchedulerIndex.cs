namespace P2PDist.Supernode;

/// <summary>A registered peer as the supernode knows it.</summary>
internal sealed record PeerRecord(string Id, string Address, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// Who holds which chunks: per blob, per peer, a bitmap of chunk ordinals. Everything here is rebuilt from
/// the peers' registrations and announcements, so a restarted supernode loses nothing it cannot get back.
/// </summary>
internal sealed class SchedulerIndex
{
    /// <summary>Limits that keep a hostile or buggy message from exhausting memory.</summary>
    public const uint MaxOrdinal = 1 << 24;
    public const int MaxRangesPerMessage = 1 << 16;

    private readonly object _lock = new();
    private readonly Dictionary<string, PeerRecord> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, OrdinalSet>> _blobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _blockedUntil = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _timeouts = new(StringComparer.Ordinal);

    /// <summary>How long a peer reported for a bad digest (or repeated timeouts) is left out of holder lists.</summary>
    public TimeSpan BlockFor { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Timeouts reported against a peer before it is blocked.</summary>
    public int TimeoutsBeforeBlock { get; init; } = 3;

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Records a fault against a peer; returns whether the peer is now blocked.</summary>
    public bool Report(string badPeer, bool badDigest)
    {
        lock (_lock)
        {
            if (!badDigest && (_timeouts[badPeer] = _timeouts.GetValueOrDefault(badPeer) + 1) < TimeoutsBeforeBlock)
                return false;
            _timeouts.Remove(badPeer);
            _blockedUntil[badPeer] = Clock.GetUtcNow().UtcDateTime + BlockFor;
            return true;
        }
    }

    private bool IsBlocked(string peer) =>
        _blockedUntil.TryGetValue(peer, out var until) && until > Clock.GetUtcNow().UtcDateTime;

    public int PeerCount
    {
        get { lock (_lock) return _peers.Count; }
    }

    private readonly Dictionary<string, DateTime> _lastSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Blob, uint Ordinal), (string Peer, DateTime Until)> _originFetches = [];

    /// <summary>How long an elected peer has to fetch a chunk from the origin and announce it before another is elected.</summary>
    public TimeSpan OriginFetchLease { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Origin traffic once per chunk: the first peer to ask for a chunk nobody holds is elected to fetch it
    /// from the origin; until its lease runs out, the others are told to wait for it. Returns true when
    /// <paramref name="requester"/> should fetch from the origin now.
    /// </summary>
    public bool ElectOriginFetcher(string blob, uint ordinal, string requester)
    {
        lock (_lock)
        {
            var now = Clock.GetUtcNow().UtcDateTime;
            if (_originFetches.TryGetValue((blob, ordinal), out var lease) && lease.Until > now && lease.Peer != requester)
                return false;
            _originFetches[(blob, ordinal)] = (requester, now + OriginFetchLease);
            return true;
        }
    }

    public void Register(PeerRecord peer)
    {
        lock (_lock)
        {
            _peers[peer.Id] = peer;
            _lastSeen[peer.Id] = Clock.GetUtcNow().UtcDateTime;
        }
    }

    /// <summary>Notes that a peer spoke (announcements double as heartbeats).</summary>
    public void Touch(string peerId)
    {
        lock (_lock)
        {
            if (_peers.ContainsKey(peerId))
                _lastSeen[peerId] = Clock.GetUtcNow().UtcDateTime;
        }
    }

    /// <summary>Drops peers silent for longer than <paramref name="timeout"/>, with everything they held.</summary>
    public List<string> Expire(TimeSpan timeout)
    {
        lock (_lock)
        {
            var cutoff = Clock.GetUtcNow().UtcDateTime - timeout;
            var now = Clock.GetUtcNow().UtcDateTime;
            foreach (var stale in _originFetches.Where(kv => kv.Value.Until <= now).Select(kv => kv.Key).ToList())
                _originFetches.Remove(stale);
            var dead = _lastSeen.Where(kv => kv.Value < cutoff).Select(kv => kv.Key).ToList();
            foreach (var peer in dead)
            {
                _peers.Remove(peer);
                _lastSeen.Remove(peer);
                foreach (var holders in _blobs.Values)
                    holders.Remove(peer);
            }
            return dead;
        }
    }

    public bool IsKnown(string peerId)
    {
        lock (_lock)
            return _peers.ContainsKey(peerId);
    }

    public void Add(string peerId, string blob, uint start, uint length) => Update(peerId, blob, start, length, add: true);

    public void Remove(string peerId, string blob, uint start, uint length) => Update(peerId, blob, start, length, add: false);

    private void Update(string peerId, string blob, uint start, uint length, bool add)
    {
        if ((ulong)start + length > MaxOrdinal)
            throw new ArgumentOutOfRangeException(nameof(length), $"ordinals {start}+{length} exceed the limit of {MaxOrdinal} chunks per blob");
        lock (_lock)
        {
            if (!_blobs.TryGetValue(blob, out var holders))
                _blobs[blob] = holders = new Dictionary<string, OrdinalSet>(StringComparer.Ordinal);
            if (!holders.TryGetValue(peerId, out var set))
                holders[peerId] = set = new OrdinalSet();
            if (add)
                set.AddRange(start, length);
            else
                set.RemoveRange(start, length);
        }
    }

    /// <summary>
    /// Up to <paramref name="limit"/> holders of one chunk, best first: same zone as the requester, then the
    /// rest; within each group a random pick (partial Fisher-Yates), so that many requesters spread over the
    /// holders instead of all choosing the first. One pass over the blob's holders, no sort.
    /// </summary>
    public List<PeerRecord> Holders(string requester, string blob, uint ordinal, Random random, int limit = 8)
    {
        lock (_lock)
        {
            if (!_blobs.TryGetValue(blob, out var holders))
                return [];
            _peers.TryGetValue(requester, out var me);
            string? zone = me?.Labels.GetValueOrDefault("zone");
            var near = new List<PeerRecord>();
            var far = new List<PeerRecord>();
            foreach (var (peerId, set) in holders)
            {
                if (peerId == requester || !set.Contains(ordinal) || IsBlocked(peerId) || !_peers.TryGetValue(peerId, out var peer))
                    continue;
                (zone is not null && peer.Labels.GetValueOrDefault("zone") == zone ? near : far).Add(peer);
            }
            var ranked = new List<PeerRecord>(Math.Min(limit, near.Count + far.Count));
            foreach (var group in new[] { near, far })
            {
                for (int i = 0; i < group.Count && ranked.Count < limit; i++)
                {
                    int pick = random.Next(i, group.Count);
                    (group[i], group[pick]) = (group[pick], group[i]);
                    ranked.Add(group[i]);
                }
            }
            return ranked;
        }
    }
}
