using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// Who holds which chunks: per blob, the holding peers, each with a run list of chunk ordinals; per peer, the
/// load signals that rank it and the budgets that bound it (see <see cref="SchedulerLimits"/>). Everything
/// here is rebuilt from the peers' registrations and announcements, so a restarted supernode loses nothing it
/// cannot get back. Time comes from <see cref="Clock"/>; timings from <see cref="Timings"/>, shared with peers.
/// </summary>
internal sealed partial class SchedulerIndex
{
    /// <summary>Holders sampled per query before ranking: enough to find an idle one, few enough to stay fast.</summary>
    private const int SampleSize = 16;

    private readonly object _lock = new();
    private readonly Dictionary<string, PeerState> _peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BlobHolders> _blobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _blockedUntil = new(StringComparer.Ordinal);
    private readonly Lazy<OriginLeases> _leases;
    private readonly Lazy<TokenBucket> _registrations;

    public SchedulerIndex()
    {
        _leases = new(() => new OriginLeases(Limits, () => Timings) { FetchersPerChunk = OriginFetchersPerChunk });
        _registrations = new(() => new TokenBucket(Limits.RegistrationsPerSecond, Limits.RegistrationBurst, Clock));
    }

    public ProtocolTimings Timings { get; init; } = ProtocolTimings.Default;

    public SchedulerLimits Limits { get; init; } = SchedulerLimits.Default;

    /// <summary>Timeouts reported against a peer, with no good transfer between them, before it is blocked.</summary>
    public int TimeoutsBeforeBlock { get; init; } = 3;

    /// <summary>How many peers may fetch one chunk from the origin at once (more: faster first copy, more origin traffic).</summary>
    public int OriginFetchersPerChunk { get; init; } = 1;

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    private DateTime Now => Clock.GetUtcNow().UtcDateTime;

    private OriginLeases Leases => _leases.Value;

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

    public int LeaseCount
    {
        get { lock (_lock) return Leases.Count; }
    }

    public bool IsKnown(string peerId)
    {
        lock (_lock)
            return _peers.ContainsKey(peerId);
    }

    public bool IsBlocked(string peerId)
    {
        lock (_lock)
            return IsBlockedLocked(peerId);
    }

    private bool IsBlockedLocked(string peer) => _blockedUntil.TryGetValue(peer, out var until) && until > Now;

    /// <summary>The upload rate requesters measured for a peer (0: none yet).</summary>
    public double MeasuredBytesPerSecond(string peerId)
    {
        lock (_lock)
            return _peers.TryGetValue(peerId, out var peer) ? peer.MeasuredBytesPerSecond : 0;
    }

    public bool IsDemoted(string peerId)
    {
        lock (_lock)
            return _peers.TryGetValue(peerId, out var peer) && peer.DemotedUntil > Now;
    }

    /// <summary>
    /// Registers a peer (H1). An id already registered from another address is refused until that
    /// registration expires (a hijack would take over the victim's holdings and address); the same address
    /// refreshes it, keeping its holdings (a restarted peer keeps its cache).
    /// </summary>
    public Registration Register(PeerState peer)
    {
        lock (_lock)
        {
            var now = Now;
            if (_peers.TryGetValue(peer.Id, out var earlier))
            {
                bool alive = earlier.LastSeen >= now - Timings.PeerTimeout;
                if (alive && earlier.Address != peer.Address)
                    return Registration.AddressConflict;
                earlier.LastSeen = now;
                if (earlier.Address == peer.Address && alive)
                    return Registration.Refreshed;
                _peers.Remove(peer.Id);
                Forget(earlier);
            }
            else if (_peers.Count >= Limits.MaxPeers)
                return Registration.Full;
            else if (!_registrations.Value.TryTake())
                return Registration.RateLimited;
            peer.LastSeen = now;
            peer.Requests = new TokenBucket(Limits.RequestsPerSecond, Limits.RequestBurst, Clock);
            _peers[peer.Id] = peer;
            return Registration.Registered;
        }
    }

    /// <summary>Takes one request from a registered peer's budget; false when it is over its rate (or unknown).</summary>
    public bool Admit(string peerId)
    {
        PeerState? peer;
        lock (_lock)
            peer = _peers.GetValueOrDefault(peerId);
        return peer?.Requests is { } bucket && bucket.TryTake();
    }

    /// <summary>Notes that a peer spoke (only its own announcements count as heartbeats; L6).</summary>
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

    /// <summary>
    /// A requester's measurement of a transfer from <paramref name="fromPeer"/>; a good transfer clears its
    /// timeouts. Counted only when the supernode recently handed that holder to that requester (H1).
    /// </summary>
    public bool AddTransfer(string reporter, string fromPeer, ulong bytes, ulong micros)
    {
        lock (_lock)
        {
            if (micros == 0 || !_peers.TryGetValue(fromPeer, out var peer) || !WasHandedLocked(reporter, fromPeer))
                return false;
            peer.AddSample(bytes * 1e6 / micros, Limits.MaxUploadBytesPerSecond);
            peer.RecentTimeouts = 0;
            return true;
        }
    }

    /// <summary>Drops peers silent for longer than <paramref name="timeout"/> (default: the timings' peer timeout), with everything they held.</summary>
    public List<string> Expire(TimeSpan? timeout = null)
    {
        lock (_lock)
        {
            var now = Now;
            var cutoff = now - (timeout ?? Timings.PeerTimeout);
            Leases.ExpireDue(now);
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
        peer.Runs = 0;
        Leases.Forget(peer);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> holders of one chunk, best first. A random sample of the blob's holders
    /// (so many requesters spread out, and a query does not visit a thousand holders) is ranked: same zone as
    /// the requester first, then by <see cref="PeerState.Cost"/> (uploads under way against capacity, measured
    /// rate, recent timeouts). Blocked peers are left out. The first holder is counted as about to upload.
    /// Every holder returned is remembered as handed to the requester (it may then report or measure it).
    /// </summary>
    /// <param name="assign">Count the first holder as about to upload (a fetch will follow; not for a mere probe).</param>
    public List<PeerState> Holders(string requester, string blob, uint ordinal, Random random, int limit = 8, bool assign = true)
    {
        lock (_lock)
        {
            if (!_blobs.TryGetValue(blob, out var holders))
                return [];
            var asking = _peers.GetValueOrDefault(requester);
            string? zone = asking?.Zone;
            var sample = new List<PeerState>(SampleSize);
            holders.Sample(ordinal, Math.Max(SampleSize, limit), random, peer => peer.Id != requester && !IsBlockedLocked(peer.Id), sample);
            if (sample.Count == 0)
                return sample;
            double maxRate = Limits.MaxUploadBytesPerSecond;
            sample.Sort((a, b) =>
            {
                int byZone = Far(a, zone).CompareTo(Far(b, zone));
                return byZone != 0 ? byZone : a.Cost(maxRate).CompareTo(b.Cost(maxRate));
            });
            if (sample.Count > limit)
                sample.RemoveRange(limit, sample.Count - limit);
            if (assign)
                sample[0].AssignedSinceReport++;
            if (asking is not null)
                RememberHandouts(asking, sample);
            return sample;
        }
    }

    private static int Far(PeerState peer, string? zone) => zone is not null && peer.Zone == zone ? 0 : 1;
}

/// <summary>How a registration went.</summary>
internal enum Registration { Registered, Refreshed, AddressConflict, Full, RateLimited }
