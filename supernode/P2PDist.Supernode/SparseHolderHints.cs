namespace P2PDist.Supernode;

/// <summary>
/// For one blob, who announced each chunk in a small announcement: up to <see cref="PerOrdinal"/> peers per
/// ordinal. A chunk just fetched from the origin is held by one or two peers among thousands holding other
/// chunks of the blob; scanning every holder to find them cost a full pass per query (10,000 peers: the
/// scheduler could not keep up). These hints are checked against the holder's authoritative set before use, so a
/// stale one (evicted, expired, re-registered) is dropped at query time and never handed out; nothing has to
/// clean them up when a peer leaves.
/// </summary>
internal sealed class SparseHolderHints
{
    /// <summary>Hints kept per ordinal; past this the chunk is popular and a random scan finds holders quickly.</summary>
    public const int PerOrdinal = 32;

    /// <summary>Ordinals one announcement may index (bounds the work a single message costs).</summary>
    public const int OrdinalsPerAnnouncement = 1 << 16;

    /// <summary>Ordinals one blob may index (bounds memory: about 300 bytes each at worst).</summary>
    public const int OrdinalsPerBlob = 1 << 20;

    private readonly Dictionary<uint, Hints> _byOrdinal = [];

    /// <summary>
    /// Every chunk of this blob ever added was indexed: for an ordinal whose hints never overflowed they name
    /// every holder, and no scan is needed. A bulk announcement (a restarted peer re-announcing its cache) past
    /// the per-message budget clears this for good.
    /// </summary>
    public bool Complete { get; private set; } = true;

    public int IndexedOrdinals => _byOrdinal.Count;

    public sealed class Hints
    {
        public readonly List<string> PeerIds = new(2);
        /// <summary>More peers announced it than fit; some holders are known only to the scan.</summary>
        public bool Overflowed;
        internal int NextToReplace;
    }

    /// <summary>Remembers that <paramref name="peerId"/> announced ordinals [start, start + length), within <paramref name="budget"/>.</summary>
    public void Note(string peerId, uint start, uint length, ref int budget)
    {
        if (length > budget)
        {
            Complete = false;
            return;
        }
        budget -= (int)length;
        for (uint ordinal = start; ordinal < start + length; ordinal++)
            Note(peerId, ordinal);
    }

    private void Note(string peerId, uint ordinal)
    {
        if (!_byOrdinal.TryGetValue(ordinal, out var hints))
        {
            if (_byOrdinal.Count >= OrdinalsPerBlob)
            {
                Complete = false;
                return;
            }
            _byOrdinal[ordinal] = hints = new Hints();
        }
        if (hints.PeerIds.Contains(peerId, StringComparer.Ordinal))
            return;
        if (hints.PeerIds.Count < PerOrdinal)
        {
            hints.PeerIds.Add(peerId);
            return;
        }
        // Rotate which slot a newcomer takes, so the hinted holders of a popular chunk change over time.
        hints.Overflowed = true;
        hints.PeerIds[hints.NextToReplace] = peerId;
        hints.NextToReplace = (hints.NextToReplace + 1) % PerOrdinal;
    }

    public Hints? For(uint ordinal) => _byOrdinal.GetValueOrDefault(ordinal);

    /// <summary>Drops an ordinal whose every hint turned out stale and that never overflowed.</summary>
    public void Forget(uint ordinal) => _byOrdinal.Remove(ordinal);
}
