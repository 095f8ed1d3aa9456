using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The shape of an announcement, checked before anything is applied (H2): counts first (entries, ranges,
/// transfers), so a hostile 4 MiB message is refused after a few comparisons, then each range (ascending,
/// non-overlapping, non-empty, below the ordinal limit), each blob at most once per list, and the total of
/// ordinals. Returns null or the reason, naming the field.
/// </summary>
internal static class AnnounceValidator
{
    public static string? Check(AnnounceRequest request, SchedulerLimits limits)
    {
        int entries = request.Added.Count + request.Removed.Count;
        if (entries > limits.MaxEntriesPerAnnounce)
            return $"{entries} entries (added + removed) in one announcement, at most {limits.MaxEntriesPerAnnounce}";
        if (request.Transfers.Count > limits.MaxTransfersPerAnnounce)
            return $"at most {limits.MaxTransfersPerAnnounce} transfer samples per announcement";
        if (request.ActiveUploads > 4096)
            return $"active_uploads {request.ActiveUploads} is over 4096";
        long ranges = 0;
        foreach (var change in request.Added.Concat(request.Removed))
            ranges += change.Starts.Count;
        if (ranges > limits.MaxRangesPerAnnounce)
            return $"{ranges} ranges in one announcement, at most {limits.MaxRangesPerAnnounce}";
        foreach (var transfer in request.Transfers)
        {
            if (!PeerIds.IsValid(transfer.FromPeerId))
                return "transfers: from_peer_id is not a peer id";
        }
        long ordinals = 0;
        foreach (var list in new[] { request.Added, request.Removed })
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var change in list)
            {
                if (SchedulerService.BlobDigestProblem(change.BlobDigest) is { } bad)
                    return bad;
                if (!seen.Add(change.BlobDigest))
                    return $"blob {change.BlobDigest} appears twice in one list of the announcement";
                if (RangesProblem(change, limits, ref ordinals) is { } problem)
                    return $"blob {change.BlobDigest}: {problem}";
            }
        }
        if (ordinals > limits.MaxOrdinalsPerAnnounce)
            return $"{ordinals} ordinals in one announcement, at most {limits.MaxOrdinalsPerAnnounce}";
        return null;
    }

    private static string? RangesProblem(OrdinalRanges change, SchedulerLimits limits, ref long ordinals)
    {
        if (change.Starts.Count != change.Lengths.Count || change.Starts.Count > limits.MaxRangesPerEntry)
            return $"starts and lengths must pair up (at most {limits.MaxRangesPerEntry})";
        ulong previousEnd = 0;
        for (int i = 0; i < change.Starts.Count; i++)
        {
            ulong start = change.Starts[i], end = start + change.Lengths[i];
            if (end > SchedulerLimits.MaxOrdinal)
                return $"ordinals {start}+{change.Lengths[i]} exceed the limit of {SchedulerLimits.MaxOrdinal} chunks per blob";
            if (change.Lengths[i] == 0)
                return $"range {i} is empty";
            if (i > 0 && start < previousEnd)
                return $"range {i} (from {start}) is not after the previous one (to {previousEnd}): ranges must ascend without overlap";
            previousEnd = end;
            ordinals += change.Lengths[i];
        }
        return null;
    }
}
