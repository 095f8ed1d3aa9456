namespace P2PDist.Protos.Scheduler;

/// <summary>
/// A set of chunk ordinals kept as sorted, disjoint, non-adjacent runs [start, end): memory grows with the
/// number of runs held, never with the size of the largest ordinal (a single ordinal near 2^24 costs one run,
/// not a 2 MiB bitmap), and adding a range costs a binary search, not a loop over its ordinals. The supernode
/// keeps one per (blob, holder); a peer keeps one per blob for what it holds and what it will announce.
/// </summary>
public sealed class OrdinalSet
{
    private readonly List<Run> _runs = [];

    private readonly record struct Run(uint Start, uint End);

    /// <summary>Ordinals held.</summary>
    public int Count { get; private set; }

    /// <summary>Maximal runs held: what this set costs in memory and on the wire.</summary>
    public int RunCount => _runs.Count;

    public bool Contains(uint ordinal)
    {
        int at = FirstEndingAfter(ordinal);
        return at < _runs.Count && _runs[at].Start <= ordinal;
    }

    public void Add(uint ordinal) => AddRange(ordinal, 1);

    public void Remove(uint ordinal) => RemoveRange(ordinal, 1);

    public void AddRange(uint start, uint length)
    {
        uint end = EndOf(start, length);
        if (length == 0)
            return;
        if (_runs.Count == 0 || _runs[^1].End < start)
        {
            _runs.Add(new Run(start, end)); // the common case: ascending announcements append
            Count += (int)length;
            return;
        }
        // Runs that overlap or touch [start, end) merge with it into one.
        int first = FirstEndingAtOrAfter(start);
        int last = first;
        uint mergedStart = start, mergedEnd = end;
        long covered = 0;
        while (last < _runs.Count && _runs[last].Start <= end)
        {
            mergedStart = Math.Min(mergedStart, _runs[last].Start);
            mergedEnd = Math.Max(mergedEnd, _runs[last].End);
            covered += _runs[last].End - _runs[last].Start;
            last++;
        }
        _runs.RemoveRange(first, last - first);
        _runs.Insert(first, new Run(mergedStart, mergedEnd));
        Count += (int)(mergedEnd - mergedStart - covered);
    }

    public void RemoveRange(uint start, uint length)
    {
        uint end = EndOf(start, length);
        if (length == 0 || _runs.Count == 0)
            return;
        int first = FirstEndingAfter(start);
        int last = first;
        var kept = new List<Run>(2);
        while (last < _runs.Count && _runs[last].Start < end)
        {
            var run = _runs[last];
            if (run.Start < start)
                kept.Add(new Run(run.Start, start));
            if (run.End > end)
                kept.Add(new Run(end, run.End));
            Count -= (int)(Math.Min(run.End, end) - Math.Max(run.Start, start));
            last++;
        }
        if (last == first)
            return;
        _runs.RemoveRange(first, last - first);
        _runs.InsertRange(first, kept);
    }

    /// <summary>
    /// Adds ranges given in ascending, non-overlapping order (as an announcement carries them) in one linear
    /// merge: O(runs held + ranges given), whatever their order relative to what is held.
    /// </summary>
    public void AddSorted(IReadOnlyList<uint> starts, IReadOnlyList<uint> lengths)
    {
        if (starts.Count == 0)
            return;
        if (starts.Count <= 2)
        {
            for (int i = 0; i < starts.Count; i++)
                AddRange(starts[i], lengths[i]);
            return;
        }
        RequireAscending(starts);
        var merged = new List<Run>(_runs.Count + starts.Count);
        int held = 0, given = 0;
        long count = 0;
        while (held < _runs.Count || given < starts.Count)
        {
            Run next;
            if (given >= starts.Count || (held < _runs.Count && _runs[held].Start <= starts[given]))
                next = _runs[held++];
            else
            {
                next = new Run(starts[given], EndOf(starts[given], lengths[given]));
                given++;
                if (next.Start == next.End)
                    continue;
            }
            if (merged.Count > 0 && merged[^1].End >= next.Start)
            {
                var tail = merged[^1];
                if (next.End > tail.End)
                {
                    count += next.End - tail.End;
                    merged[^1] = tail with { End = next.End };
                }
            }
            else
            {
                merged.Add(next);
                count += next.End - next.Start;
            }
        }
        _runs.Clear();
        _runs.AddRange(merged);
        Count = (int)count;
    }

    /// <summary>
    /// Removes ranges given in ascending, non-overlapping order in one linear pass: O(runs held + ranges given).
    /// </summary>
    public void RemoveSorted(IReadOnlyList<uint> starts, IReadOnlyList<uint> lengths)
    {
        if (starts.Count <= 2 || _runs.Count == 0)
        {
            for (int i = 0; i < starts.Count; i++)
                RemoveRange(starts[i], lengths[i]);
            return;
        }
        RequireAscending(starts);
        var kept = new List<Run>(_runs.Count + 1);
        long count = 0;
        int given = 0;
        foreach (var held in _runs)
        {
            uint from = held.Start;
            // Skip removals that end before this run; cut the run by those that overlap it.
            while (given < starts.Count && EndOf(starts[given], lengths[given]) <= from)
                given++;
            int g = given;
            while (from < held.End && g < starts.Count && starts[g] < held.End)
            {
                if (lengths[g] == 0)
                {
                    g++;
                    continue;
                }
                uint removeEnd = EndOf(starts[g], lengths[g]);
                if (starts[g] > from)
                    Keep(new Run(from, starts[g]));
                from = Math.Max(from, removeEnd);
                if (removeEnd <= held.End)
                    g++;
                else
                    break;
            }
            given = g;
            if (from < held.End)
                Keep(new Run(from, held.End));
        }
        _runs.Clear();
        _runs.AddRange(kept);
        Count = (int)count;

        void Keep(Run run)
        {
            kept.Add(run);
            count += run.End - run.Start;
        }
    }

    private static void RequireAscending(IReadOnlyList<uint> starts)
    {
        for (int i = 1; i < starts.Count; i++)
        {
            if (starts[i] < starts[i - 1])
                throw new ArgumentException($"range starts must ascend: {starts[i]} follows {starts[i - 1]}", nameof(starts));
        }
    }

    /// <summary>The set as (start, length) runs in ascending order, as announcements carry it.</summary>
    public OrdinalRanges ToRanges(string blob)
    {
        var ranges = new OrdinalRanges { BlobDigest = blob };
        foreach (var run in _runs)
        {
            ranges.Starts.Add(run.Start);
            ranges.Lengths.Add(run.End - run.Start);
        }
        return ranges;
    }

    private static uint EndOf(uint start, uint length) =>
        (ulong)start + length <= uint.MaxValue
            ? start + length
            : throw new ArgumentOutOfRangeException(nameof(length), $"ordinals {start}+{length} run past {uint.MaxValue}");

    /// <summary>Index of the first run with End &gt; ordinal (the run that would contain it), or the count.</summary>
    private int FirstEndingAfter(uint ordinal)
    {
        int low = 0, high = _runs.Count;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (_runs[mid].End > ordinal)
                high = mid;
            else
                low = mid + 1;
        }
        return low;
    }

    /// <summary>Index of the first run with End &gt;= ordinal (one that overlaps or touches a range starting there).</summary>
    private int FirstEndingAtOrAfter(uint ordinal) => ordinal == 0 ? 0 : FirstEndingAfter(ordinal - 1);
}
