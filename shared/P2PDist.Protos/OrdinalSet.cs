namespace P2PDist.Protos.Scheduler;

/// <summary>
/// A growable bitmap of chunk ordinals: one bit per chunk of a blob, not an object per chunk. The supernode
/// keeps one per (blob, holder); a peer keeps one per blob for what it holds and what it will announce.
/// </summary>
public sealed class OrdinalSet
{
    private ulong[] _words = new ulong[4];

    public int Count { get; private set; }

    public bool Contains(uint ordinal) => ordinal / 64 < _words.Length && (_words[ordinal / 64] & (1UL << (int)(ordinal % 64))) != 0;

    public void Add(uint ordinal) => AddRange(ordinal, 1);

    public void Remove(uint ordinal) => RemoveRange(ordinal, 1);

    public void AddRange(uint start, uint length)
    {
        for (uint o = start; o < start + length; o++)
        {
            int word = (int)(o / 64);
            if (word >= _words.Length)
                Array.Resize(ref _words, Math.Max(_words.Length * 2, word + 1));
            ulong bit = 1UL << (int)(o % 64);
            if ((_words[word] & bit) == 0)
            {
                _words[word] |= bit;
                Count++;
            }
        }
    }

    public void RemoveRange(uint start, uint length)
    {
        for (uint o = start; o < start + length && o / 64 < _words.Length; o++)
        {
            ulong bit = 1UL << (int)(o % 64);
            if ((_words[o / 64] & bit) != 0)
            {
                _words[o / 64] &= ~bit;
                Count--;
            }
        }
    }

    /// <summary>The set as (start, length) runs in ascending order, as announcements carry it.</summary>
    public OrdinalRanges ToRanges(string blob)
    {
        var ranges = new OrdinalRanges { BlobDigest = blob };
        uint start = 0, length = 0;
        for (int word = 0; word < _words.Length; word++)
        {
            if (_words[word] == 0)
                continue; // whole empty words are skipped: a sparse million-chunk set costs little
            for (int bit = 0; bit < 64; bit++)
            {
                if ((_words[word] & (1UL << bit)) == 0)
                    continue;
                uint ordinal = (uint)(word * 64 + bit);
                if (length > 0 && ordinal == start + length)
                {
                    length++;
                    continue;
                }
                if (length > 0)
                {
                    ranges.Starts.Add(start);
                    ranges.Lengths.Add(length);
                }
                (start, length) = (ordinal, 1);
            }
        }
        if (length > 0)
        {
            ranges.Starts.Add(start);
            ranges.Lengths.Add(length);
        }
        return ranges;
    }
}
