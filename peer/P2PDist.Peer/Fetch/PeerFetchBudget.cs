namespace P2PDist.Peer.Fetch;

/// <summary>
/// How long the peer phase of one chunk fetch may take in total, from its size: a holder that trickles (a live
/// connection that sends a byte now and then) resets a stall timer forever, so only a total deadline ends it.
/// Past it the chunk comes from the origin (review H4).
/// </summary>
internal static class PeerFetchBudget
{
    /// <summary>The slowest transfer worth waiting for: below it the origin is the better source.</summary>
    public const long MinimumBytesPerSecond = 1 << 20;

    /// <summary>Holders the swarm tries per chunk (PeerNetwork), each given the time of one transfer.</summary>
    private const int HoldersTried = 3;

    /// <summary>Per holder: connecting and the first byte.</summary>
    private static readonly TimeSpan HolderSetup = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Waiting for another peer elected to fetch the chunk from the origin, or for a busy holder's slot. A
    /// reader waits less (its read deadline must leave the origin time); a prefetch waits longer, as another
    /// origin copy costs the swarm more than its time.
    /// </summary>
    private static readonly TimeSpan ReaderWait = TimeSpan.FromSeconds(15), BackgroundWait = TimeSpan.FromSeconds(30);

    public static TimeSpan For(uint chunkBytes, bool background) =>
        (background ? BackgroundWait : ReaderWait) + HoldersTried * (HolderSetup + TimeSpan.FromSeconds((double)chunkBytes / MinimumBytesPerSecond));
}
