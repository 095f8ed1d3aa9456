using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>What an election answered a requester for one unheld chunk.</summary>
internal enum Election
{
    /// <summary>Newly elected: fetch it from the origin.</summary>
    Elected,
    /// <summary>Already elected, lease extended.</summary>
    Renewed,
    /// <summary>Already elected, but not extended: it announced nothing for too long. It keeps the lease until it runs out.</summary>
    HeldNotRenewed,
    /// <summary>Others are elected: wait for them.</summary>
    Wait,
    /// <summary>Not elected: it holds too many leases (or was demoted). Nobody waits for it; it may fetch alone.</summary>
    OverLimit,
}

/// <summary>
/// Origin-election leases (H3). The first peers to ask for a chunk nobody holds are elected to fetch it from
/// the origin; a lease runs out unless renewed, and renewals keep it only while its holder shows progress
/// (announces chunks). A lease ends early when its holder announces the chunk. A peer holds a bounded number
/// of leases; one that lets many run out without announcing is demoted to a few for a while. Lease expiries
/// sit in a priority queue, so a scan costs the leases due, not all leases. Not thread-safe: the
/// <see cref="SchedulerIndex"/> lock guards it.
/// </summary>
internal sealed class OriginLeases(SchedulerLimits limits, Func<ProtocolTimings> timings)
{
    private sealed class Lease(PeerState peer, DateTime granted, DateTime until)
    {
        public PeerState Peer { get; } = peer;
        public DateTime Granted { get; } = granted;
        public DateTime Until { get; set; } = until;
        public DateTime Queued { get; set; } = until;
    }

    private readonly Dictionary<(string Blob, uint Ordinal), List<Lease>> _byChunk = [];
    private readonly PriorityQueue<(string Blob, uint Ordinal), DateTime> _due = new();

    public int FetchersPerChunk { get; init; } = 1;

    public int Count => _byChunk.Values.Sum(l => l.Count);

    public Election Elect(string blob, uint ordinal, PeerState requester, DateTime now)
    {
        var key = (blob, ordinal);
        if (_byChunk.TryGetValue(key, out var leases))
            DropExpired(key, leases, now);
        else
            leases = [];
        var own = leases.Find(l => l.Peer == requester);
        var t = timings();
        if (own is not null)
        {
            var progressSince = own.Granted > requester.LastProgress ? own.Granted : requester.LastProgress;
            if (now - progressSince >= t.OriginLeaseWithoutProgress)
                return Election.HeldNotRenewed;
            own.Until = now + t.OriginLease;
            if (own.Until - own.Queued >= TimeSpan.FromSeconds(1))
            {
                // Re-queued at most about once a second per lease, however often it is renewed.
                own.Queued = own.Until;
                _due.Enqueue(key, own.Until);
            }
            return Election.Renewed;
        }
        if (leases.Count >= FetchersPerChunk)
            return Election.Wait;
        int allowed = requester.DemotedUntil > now ? limits.LeasesWhileDemoted : limits.MaxLeasesPerPeer;
        if (requester.Leases.Count >= allowed)
            return Election.OverLimit;
        var lease = new Lease(requester, now, now + t.OriginLease);
        leases.Add(lease);
        _byChunk[key] = leases; // DropExpired may have removed an emptied list
        requester.Leases.Add(key);
        _due.Enqueue(key, lease.Until);
        return Election.Elected;
    }

    public bool IsBeingFetched(string blob, uint ordinal, DateTime now) =>
        _byChunk.TryGetValue((blob, ordinal), out var leases) && leases.Any(l => l.Until > now);

    /// <summary>The peer announced chunks of <paramref name="blob"/>: its leases on chunks it now holds are fulfilled.</summary>
    public void Fulfil(PeerState peer, string blob, OrdinalSet held)
    {
        if (peer.Leases.Count == 0)
            return;
        foreach (var key in peer.Leases.Where(k => k.Blob == blob && held.Contains(k.Ordinal)).ToList())
        {
            Release(key, peer);
            peer.ExpiredLeases = 0;
        }
    }

    /// <summary>Drops every lease of a peer that left (expired or re-registered): not counted against it.</summary>
    public void Forget(PeerState peer)
    {
        foreach (var key in peer.Leases.ToList())
            Release(key, peer);
    }

    /// <summary>Ends the leases that ran out by <paramref name="now"/>, counting each against its holder.</summary>
    public void ExpireDue(DateTime now)
    {
        while (_due.TryPeek(out var key, out var when) && when <= now)
        {
            _due.Dequeue();
            if (_byChunk.TryGetValue(key, out var leases))
                DropExpired(key, leases, now);
        }
    }

    private void DropExpired((string Blob, uint Ordinal) key, List<Lease> leases, DateTime now)
    {
        for (int i = leases.Count - 1; i >= 0; i--)
        {
            var lease = leases[i];
            if (lease.Until > now)
                continue;
            leases.RemoveAt(i);
            lease.Peer.Leases.Remove(key);
            // Ran out without the chunk being announced: count it; too many and the peer is demoted.
            if (++lease.Peer.ExpiredLeases >= limits.ExpiredLeasesBeforeDemotion)
            {
                lease.Peer.DemotedUntil = now + timings().BlockFor;
                lease.Peer.ExpiredLeases = 0;
            }
        }
        if (leases.Count == 0)
            _byChunk.Remove(key);
    }

    private void Release((string Blob, uint Ordinal) key, PeerState peer)
    {
        peer.Leases.Remove(key);
        if (_byChunk.TryGetValue(key, out var leases))
        {
            leases.RemoveAll(l => l.Peer == peer);
            if (leases.Count == 0)
                _byChunk.Remove(key);
        }
    }
}
