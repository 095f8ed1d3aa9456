namespace P2PDist.Supernode;

/// <summary>
/// What keeps one peer from harming others without identity (H1, H3): a peer may report or measure only
/// holders it was recently handed; a peer is blocked only when enough distinct reporters agree; elections
/// go through bounded, progress-checked leases (<see cref="OriginLeases"/>).
/// </summary>
internal sealed partial class SchedulerIndex
{
    /// <summary>What a report did.</summary>
    public enum ReportOutcome
    {
        /// <summary>Not counted: the supernode did not recently hand that holder to that reporter.</summary>
        NotHanded,
        Counted,
        Blocked,
    }

    private void RememberHandouts(PeerState requester, List<PeerState> holders)
    {
        var now = Now;
        var until = now + Timings.ReportWindow;
        foreach (var holder in holders)
        {
            if (requester.HandedOut.Count >= Limits.MaxHandoutsPerPeer && !requester.HandedOut.ContainsKey(holder.Id))
            {
                // Full: forget what is past the window, at most once a second (so a full table costs nothing per query).
                if (now - requester.HandoutsPruned < TimeSpan.FromSeconds(1))
                    continue;
                requester.HandoutsPruned = now;
                foreach (var old in requester.HandedOut.Where(kv => kv.Value <= now).Select(kv => kv.Key).ToList())
                    requester.HandedOut.Remove(old);
                if (requester.HandedOut.Count >= Limits.MaxHandoutsPerPeer)
                    continue;
            }
            requester.HandedOut[holder.Id] = until;
        }
    }

    private bool WasHandedLocked(string requester, string holder) =>
        _peers.TryGetValue(requester, out var asking) && asking.HandedOut.TryGetValue(holder, out var until) && until > Now;

    /// <summary>
    /// Records a fault against a peer. It counts only if the supernode recently handed <paramref name="badPeer"/>
    /// to <paramref name="reporter"/>; the peer is blocked for <c>BlockFor</c> once
    /// <see cref="SchedulerLimits.ReportersBeforeBlock"/> distinct reporters reported a bad digest within the
    /// report window, or after <see cref="TimeoutsBeforeBlock"/> timeouts (no good transfer between) from that
    /// many distinct reporters.
    /// </summary>
    public ReportOutcome Report(string reporter, string badPeer, bool badDigest)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(badPeer, out var peer) || reporter == badPeer || !WasHandedLocked(reporter, badPeer))
                return ReportOutcome.NotHanded;
            var now = Now;
            var reports = peer.ReportsAgainst;
            foreach (var stale in reports.Where(kv => kv.Value.At <= now - Timings.ReportWindow).Select(kv => kv.Key).ToList())
                reports.Remove(stale);
            // One entry per reporter (bounded by the handouts that allow reporting); a bad digest is kept over a timeout.
            bool wasBadDigest = reports.TryGetValue(reporter, out var earlier) && earlier.BadDigest;
            reports[reporter] = (now, badDigest || wasBadDigest);
            if (!badDigest)
                peer.RecentTimeouts++;
            int reporters = reports.Count;
            int badDigestReporters = reports.Values.Count(r => r.BadDigest);
            bool block = badDigestReporters >= Limits.ReportersBeforeBlock
                || (peer.RecentTimeouts >= TimeoutsBeforeBlock && reporters >= Limits.ReportersBeforeBlock);
            if (!block)
                return ReportOutcome.Counted;
            peer.RecentTimeouts = 0;
            reports.Clear();
            _blockedUntil[badPeer] = now + Timings.BlockFor;
            return ReportOutcome.Blocked;
        }
    }

    /// <summary>
    /// Origin traffic once per chunk: the first peers (up to <see cref="OriginFetchersPerChunk"/>) to ask for a
    /// chunk nobody holds are elected to fetch it from the origin; until their leases run out, the others are
    /// told to wait. Only registered peers are elected.
    /// </summary>
    public Election ElectOriginFetcher(string blob, uint ordinal, string requester)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(requester, out var peer))
                return Election.OverLimit;
            return Leases.Elect(blob, ordinal, peer, Now);
        }
    }

    /// <summary>Whether some peer holds a live lease to fetch this chunk from the origin.</summary>
    public bool IsBeingFetched(string blob, uint ordinal)
    {
        lock (_lock)
            return Leases.IsBeingFetched(blob, ordinal, Now);
    }
}
