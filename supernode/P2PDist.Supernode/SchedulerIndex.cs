namespace P2PDist.Supernode;

/// <summary>
/// Who holds which chunks: per blob, the holding peers, each with a bitmap of chunk ordinals; per peer, the
/// load signals that rank it. Everything here is rebuilt from the peers' registrations and announcements, so
/// a restarted supernode loses nothing it cannot get back.
/// </summary>
internal sealed class SchedulerIndex
{
    /// <summary>Limits that keep a hostile or buggy message from exhausting memory.</summary>
    public const uint MaxOrdinal = 1 << 24;
    public const int MaxRangesPerMessage = 1 << 16;

    /// <summary>Holders sampled per query before ranking: enough to find an idle one, few enough to stay fast.</summary>
    private const int SampleSize = 16;

    private readonly object _lock = new();
    private readonly Dictionary<string, PeerState> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BlobHolders> _blobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _blockedUntil = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Blob, uint Ordinal), List<(string Peer, DateTime Until)>> _originFetches = [];

    /// <summary>How long a peer reported for a bad digest (or repeated timeouts) is left out of holder lists.</summary>
    public TimeSpan BlockFor { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Timeouts reported against a peer, with no good transfer between them, before it is blocked.</summary>
    public int TimeoutsBeforeBlock { get; init; } = 3;

    /// <summary>How long an elected peer has to fetch a chunk from the origin and announce it before another is elected.</summary>
    public TimeSpan OriginFetchLease { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many peers may fetch one chunk from the origin at once (more: faster first copy, more origin traffic).</summary>
    public int OriginFetchersPerChunk { get; init; } = 1;

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    private DateTime Now => Clock.GetUtcNow().UtcDateTime;

    public int PeerCount
    {
        get { lock (_lock) return _peers.Count; }
    }

    public int BlockedCount
    {
        get { lock (_lock) return _blockedUntil.Count(kv => kv.Value > Now); }
    }

    public int BlobCount
    {
        get { lock (_lock) return _blobs.Count; }
    }

    /// <summary>Records a fault against a peer; returns whether the peer is now blocked.</summary>
    public bool Report(string badPeer, bool badDigest)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(badPeer, out var peer))
                return false;
            if (!badDigest && ++peer.RecentTimeouts < TimeoutsBeforeBlock)
                return false;
            peer.RecentTimeouts = 0;
            _blockedUntil[badPeer] = Now + BlockFor;
            return true;
        }
    }

    private bool IsBlocked(string peer) => _blockedUntil.TryGetValue(peer, out var until) && until > Now;

    /// <summary>
    /// Origin traffic once per chunk: the first peers (up to <see cref="OriginFetchersPerChunk"/>) to ask for a
    /// chunk nobody holds are elected to fetch it from the origin; until their leases run out, the others are
    /// told to wait. Returns true when <paramref name="requester"/> should fetch from the origin now.
    /// </summary>
    public bool ElectOriginFetcher(string blob, uint ordinal, string requester)
    {
        lock (_lock)
        {
            var now = Now;
            if (!_originFetches.TryGetValue((blob, ordinal), out var leases))
                _originFetches[(blob, ordinal)] = leases = [];
            leases.RemoveAll(l => l.Until <= now || l.Peer == requester);
            if (leases.Count >= OriginFetchersPerChunk)
                return false;
            leases.Add((requester, now + OriginFetchLease));
            return true;
        }
    }

    /// <summary>Whether some peer holds a live lease to fetch this chunk from the origin.</summary>
    public bool IsBeingFetched(string blob, uint ordinal)
    {
        lock (_lock)
        {
            var now = Now;
            return _originFetches.TryGetValue((blob, ordinal), out var leases) && leases.Any(l => l.Until > now);
        }
    }

    public void Register(PeerState peer)
    {
        lock (_lock)
        {
            if (_peers.Remove(peer.Id, out var earlier))
                Forget(earlier); // a re-registration re-announces everything it holds
            peer.LastSeen = Now;
            _peers[peer.Id] = peer;
        }
    }

    /// <summary>Notes that a peer spoke (announcements double as heartbeats).</summary>
    public void Touch(string peerId)
    {
        lock (_lock)
        {
            if (_peers.TryGetValue(peerId, out var peer))
                peer.LastSeen = Now;
        }
    }

    /// <summary>A peer's own count of the uploads it is serving: replaces the supernode's guesses since the last one.</summary>
    public void ReportLoad(string peerId, int activeUploads)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(peerId, out var peer))
                return;
            peer.ReportedUploads = activeUploads;
            peer.AssignedSinceReport = 0;
        }
    }

    /// <summary>A requester's measurement of a transfer from <paramref name="fromPeer"/>; a good transfer clears its timeouts.</summary>
    public void AddTransfer(string fromPeer, ulong bytes, ulong micros)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(fromPeer, out var peer) || micros == 0)
                return;
            peer.AddSample(bytes * 1e6 / micros);
            peer.RecentTimeouts = 0;
        }
    }

    /// <summary>Drops peers silent for longer than <paramref name="timeout"/>, with everything they held.</summary>
    public List<string> Expire(TimeSpan timeout)
    {
        lock (_lock)
        {
            var now = Now;
            var cutoff = now - timeout;
            foreach (var (key, leases) in _originFetches.ToList())
            {
                leases.RemoveAll(l => l.Until <= now);
                if (leases.Count == 0)
                    _originFetches.Remove(key);
            }
            foreach (var expired in _blockedUntil.Where(kv => kv.Value <= now).Select(kv => kv.Key).ToList())
                _blockedUntil.Remove(expired);
            var dead = _peers.Values.Where(p => p.LastSeen < cutoff).ToList();
            foreach (var peer in dead)
            {
                _peers.Remove(peer.Id);
                Forget(peer);
            }
            return dead.Select(p => p.Id).ToList();
        }
    }

    private void Forget(PeerState peer)
    {
        foreach (string blob in peer.Blobs)
        {
            if (_blobs.TryGetValue(blob, out var holders))
            {
                holders.Remove(peer.Id);
                if (holders.Count == 0)
                    _blobs.Remove(blob);
            }
        }
        peer.Blobs.Clear();
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
            if (!_peers.TryGetValue(peerId, out var peer))
                return;
            if (!_blobs.TryGetValue(blob, out var holders))
            {
                if (!add)
                    return;
                _blobs[blob] = holders = new BlobHolders();
            }
            peer.Blobs.Add(blob);
            var set = holders.For(peer);
            if (add)
                set.AddRange(start, length);
            else
                set.RemoveRange(start, length);
        }
    }

    /// <summary>
    /// Up to <paramref name="limit"/> holders of one chunk, best first. A random sample of the blob's holders
    /// (so many requesters spread out, and a query does not visit a thousand holders) is ranked: same zone as
    /// the requester first, then by <see cref="PeerState.Cost"/> (uploads under way against capacity, measured
    /// rate, recent timeouts). Blocked peers are left out. The first holder is counted as about to upload.
    /// </summary>
    /// <param name="assign">Count the first holder as about to upload (a fetch will follow; not for a mere probe).</param>
    public List<PeerState> Holders(string requester, string blob, uint ordinal, Random random, int limit = 8, bool assign = true)
    {
        lock (_lock)
        {
            if (!_blobs.TryGetValue(blob, out var holders))
                return [];
            string? zone = _peers.GetValueOrDefault(requester)?.Zone;
            var sample = new List<PeerState>(SampleSize);
            holders.Sample(ordinal, Math.Max(SampleSize, limit), random, peer => peer.Id != requester && !IsBlocked(peer.Id), sample);
            if (sample.Count == 0)
                return sample;
            sample.Sort((a, b) =>
            {
                int byZone = Far(a, zone).CompareTo(Far(b, zone));
                return byZone != 0 ? byZone : a.Cost().CompareTo(b.Cost());
            });
            if (sample.Count > limit)
                sample.RemoveRange(limit, sample.Count - limit);
            if (assign)
                sample[0].AssignedSinceReport++;
            return sample;
        }
    }

    private static int Far(PeerState peer, string? zone) => zone is not null && peer.Zone == zone ? 0 : 1;
}
