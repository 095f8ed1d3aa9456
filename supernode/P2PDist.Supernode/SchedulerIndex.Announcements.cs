using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>Holdings: announcements applied whole or not at all, within the per-peer budgets (H2).</summary>
internal sealed partial class SchedulerIndex
{
    public void Add(string peerId, string blob, uint start, uint length) =>
        Apply(peerId, [new OrdinalRanges { BlobDigest = blob, Starts = { start }, Lengths = { length } }], []);

    public void Remove(string peerId, string blob, uint start, uint length) =>
        Apply(peerId, [], [new OrdinalRanges { BlobDigest = blob, Starts = { start }, Lengths = { length } }]);

    /// <summary>
    /// Applies one announcement's changes (already validated for shape by <see cref="AnnounceValidator"/>).
    /// Returns null, or why the peer's budgets refuse it: then nothing is applied. The budget check is an upper
    /// bound (runs held plus ranges given), so it never needs to undo a half-applied message.
    /// </summary>
    public string? Apply(string peerId, IReadOnlyList<OrdinalRanges> added, IReadOnlyList<OrdinalRanges> removed)
    {
        foreach (var change in added.Concat(removed))
        {
            for (int i = 0; i < change.Starts.Count; i++)
            {
                if ((ulong)change.Starts[i] + change.Lengths[i] > SchedulerLimits.MaxOrdinal)
                    throw new ArgumentOutOfRangeException(nameof(added), $"ordinals {change.Starts[i]}+{change.Lengths[i]} exceed the limit of {SchedulerLimits.MaxOrdinal} chunks per blob");
            }
        }
        lock (_lock)
        {
            if (!_peers.TryGetValue(peerId, out var peer))
                return null;
            int newBlobs = 0;
            long newRuns = 0;
            foreach (var change in added)
            {
                var set = SetOf(peer, change.BlobDigest);
                if (set is null)
                    newBlobs++;
                if ((set?.RunCount ?? 0) + change.Starts.Count > Limits.MaxRunsPerSet)
                    return $"blob {change.BlobDigest}: over {Limits.MaxRunsPerSet} runs held for one blob";
                newRuns += change.Starts.Count;
            }
            if (peer.Blobs.Count + newBlobs > Limits.MaxBlobsPerPeer)
                return $"over {Limits.MaxBlobsPerPeer} blobs held by one peer";
            if (peer.Runs + newRuns > Limits.MaxRunsPerPeer)
                return $"over {Limits.MaxRunsPerPeer} runs held by one peer";

            var now = Now;
            int indexBudget = SparseHolderHints.OrdinalsPerAnnouncement;
            foreach (var change in added)
            {
                if (!_blobs.TryGetValue(change.BlobDigest, out var holders))
                    _blobs[change.BlobDigest] = holders = new BlobHolders();
                peer.Blobs.Add(change.BlobDigest);
                var existing = holders.Find(peer.Id);
                int before = existing?.RunCount ?? 0, countBefore = existing?.Count ?? 0;
                var set = holders.Add(peer, change.Starts, change.Lengths, ref indexBudget);
                peer.Runs += set.RunCount - before;
                if (set.Count > countBefore)
                    peer.LastProgress = now;
                Leases.Fulfil(peer, change.BlobDigest, set);
            }
            foreach (var change in removed)
            {
                if (SetOf(peer, change.BlobDigest) is not { } set)
                    continue;
                int before = set.RunCount;
                set.RemoveSorted(change.Starts, change.Lengths);
                peer.Runs += set.RunCount - before;
                if (set.Count == 0)
                    DropHolding(peer, change.BlobDigest);
            }
            return null;
        }
    }

    private OrdinalSet? SetOf(PeerState peer, string blob) =>
        peer.Blobs.Contains(blob) && _blobs.TryGetValue(blob, out var holders) ? holders.Find(peer.Id) : null;

    private void DropHolding(PeerState peer, string blob)
    {
        peer.Blobs.Remove(blob);
        if (_blobs.TryGetValue(blob, out var holders))
        {
            holders.Remove(peer.Id);
            if (holders.Count == 0)
                _blobs.Remove(blob);
        }
    }
}
