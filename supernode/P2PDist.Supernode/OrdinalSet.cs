namespace P2PDist.Supernode;

/// <summary>A growable bitmap of chunk ordinals: one bit per chunk of a blob, not an object per chunk.</summary>
internal sealed class OrdinalSet
{
    private ulong[] _words = new ulong[4];

    public int Count { get; private set; }

    public bool Contains(uint ordinal) => ordinal / 64 < _words.Length && (_words[ordinal / 64] & (1UL << (int)(ordinal % 64))) != 0;

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
}
