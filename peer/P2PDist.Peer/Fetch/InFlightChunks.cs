using System.Collections.Concurrent;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Single flight: one fetch per chunk digest, which every concurrent reader of that chunk awaits. The one who
/// begins a fetch must end it with <see cref="Succeed"/> or <see cref="Fail"/>; both remove the entry, so a
/// failed fetch is retried by the next reader instead of leaving the chunk unreadable (review H4). Keyed by
/// digest, so one table serves every mount of the node: a chunk two images share is fetched once.
/// </summary>
public sealed class InFlightChunks
{
    private readonly ConcurrentDictionary<ChunkDigest, TaskCompletionSource<byte[]>> _running = new();

    public bool Contains(ChunkDigest digest) => _running.ContainsKey(digest);

    public int Count => _running.Count;

    /// <summary>The fetch of <paramref name="digest"/> under way, or a new one that <paramref name="begun"/> is then set to (the caller runs it).</summary>
    public Task<byte[]> JoinOrBegin(ChunkDigest digest, out TaskCompletionSource<byte[]>? begun)
    {
        var mine = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var winner = _running.GetOrAdd(digest, mine);
        begun = ReferenceEquals(winner, mine) ? mine : null;
        return winner.Task;
    }

    /// <summary>Registers a fetch of <paramref name="digest"/> if none runs (a member of a merged run); null if one does.</summary>
    public TaskCompletionSource<byte[]>? TryBegin(ChunkDigest digest)
    {
        var mine = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        return _running.TryAdd(digest, mine) ? mine : null;
    }

    public void Succeed(ChunkDigest digest, TaskCompletionSource<byte[]> fetch, byte[] plain)
    {
        // Completed before removal: a reader that joins in between gets the bytes instead of fetching again.
        fetch.TrySetResult(plain);
        _running.TryRemove(new KeyValuePair<ChunkDigest, TaskCompletionSource<byte[]>>(digest, fetch));
    }

    public void Fail(ChunkDigest digest, TaskCompletionSource<byte[]> fetch, Exception error)
    {
        fetch.TrySetException(error);
        _running.TryRemove(new KeyValuePair<ChunkDigest, TaskCompletionSource<byte[]>>(digest, fetch));
    }
}
