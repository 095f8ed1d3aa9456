using Microsoft.Extensions.Logging;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Fetches every chunk of an image in the background, several at once, in a random order of this peer's
/// own. In a swarm it asks the supernode about a window of the missing chunks in one call, fetches held ones
/// from peers (<c>concurrency</c> at once), and keeps a few origin fetches of its own going for chunks
/// nobody holds or fetches yet: random orders make peers hold different chunks early and trade them, and the
/// origin sends each chunk about once. Chunks another peer is fetching from the origin wait for later.
/// </summary>
internal sealed class WholeImageWarmer(RafsBootstrap bootstrap, ChunkProvider provider, int concurrency, ILogger log, PrefetchProgress progress)
{
    /// <summary>Missing chunks asked about per supernode call.</summary>
    private const int ProbeWindow = 48;

    /// <summary>
    /// Origin fetches of single chunks at once, besides the peer fetches: enough that new chunks keep
    /// entering the swarm while this peer's link is busy with peers, few enough that each completes (and is
    /// shared) early. They are one chunk each, never merged runs.
    /// </summary>
    private const int OriginSlots = 2;

    /// <summary>How long to wait before asking again when nothing could be started.</summary>
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(200);

    private readonly Dictionary<uint, Task> _fromPeers = [];
    private readonly Dictionary<uint, Task> _fromOrigin = [];
    /// <summary>Chunks not yet started, in this peer's random order; a linked list so starting one from the window is O(1).</summary>
    private LinkedList<uint> _missing = new();
    private int _failed;

    private readonly List<uint> _warmed = [];

    /// <summary>Returns the chunks fetched and how many failed (each failure logged).</summary>
    public async Task<(IReadOnlyList<uint> Warmed, int Failed)> RunAsync(IEnumerable<uint> alreadyDone, CancellationToken stop)
    {
        var done = alreadyDone.ToHashSet();
        var order = Enumerable.Range(0, bootstrap.ChunkCount).Select(c => (uint)c).Where(c => !done.Contains(c) && !provider.IsCached(c)).ToArray();
        progress.Present(bootstrap.ChunkCount - done.Count - order.Length); // cached before the warm began
        Random.Shared.Shuffle(order);
        _missing = new LinkedList<uint>(order);
        while (_missing.Count > 0 || _fromPeers.Count > 0 || _fromOrigin.Count > 0)
        {
            Reap(_fromPeers);
            Reap(_fromOrigin);
            bool started = _missing.Count > 0 && (_fromPeers.Count < concurrency || _fromOrigin.Count < OriginSlots)
                && await StartSomeAsync(stop).ConfigureAwait(false);
            var running = _fromPeers.Values.Concat(_fromOrigin.Values).ToList();
            // Wake when a fetch ends; when nothing could start, also after a short wait to ask again.
            if (!started || running.Count == 0)
                running.Add(Task.Delay(IdleWait, provider.Time, stop));
            await Task.WhenAny(running).ConfigureAwait(false);
            stop.ThrowIfCancellationRequested();
        }
        return (_warmed, _failed);
    }

    private void Reap(Dictionary<uint, Task> fetches)
    {
        foreach (var (chunk, task) in fetches.Where(r => r.Value.IsCompleted).ToList())
        {
            fetches.Remove(chunk);
            if (task.IsCompletedSuccessfully)
            {
                _warmed.Add(chunk);
                progress.Present();
            }
            if (task.IsFaulted)
            {
                _failed++;
                progress.Failed();
                log.LogWarning("prefetch of chunk {Digest} failed: {Reason}", bootstrap.GetChunk(chunk).Digest, task.Exception?.InnerException?.Message);
            }
        }
    }

    private async Task<bool> StartSomeAsync(CancellationToken stop)
    {
        var window = Window();
        if (window.Count == 0)
            return false;
        int free = concurrency - _fromPeers.Count;
        var states = provider.Swarm is { } swarm ? await swarm.ProbeManyAsync(window.Select(n => n.Value).ToList(), stop).ConfigureAwait(false) : null;
        if (states is null || states.All(s => s.State == SwarmProbe.NoScheduler))
        {
            // Alone, or no supernode answers: fetch in the random order (the provider goes to the origin).
            foreach (var chunk in window.Take(Math.Max(0, free)))
                Start(chunk, _fromPeers, stop);
            return free > 0;
        }
        int started = 0;
        for (int at = 0; at < window.Count; at++)
        {
            if (states[at].State == SwarmProbe.Held && _fromPeers.Count < concurrency)
                started += Start(window[at], _fromPeers, stop);
            else if (states[at].State == SwarmProbe.Nobody && _fromOrigin.Count < OriginSlots)
                started += Start(window[at], _fromOrigin, stop);
        }
        return started > 0;
    }

    /// <summary>
    /// The next missing chunks, up to <see cref="ProbeWindow"/>, dropping on the way those that got cached
    /// meanwhile (a reader fetched them): only the front of the list is visited, not all of it each time.
    /// </summary>
    private List<LinkedListNode<uint>> Window()
    {
        var window = new List<LinkedListNode<uint>>(ProbeWindow);
        for (var node = _missing.First; node is not null && window.Count < ProbeWindow;)
        {
            var next = node.Next;
            if (provider.IsCached(node.Value))
            {
                _missing.Remove(node); // a reader fetched it meanwhile
                progress.Present();
            }
            else
                window.Add(node);
            node = next;
        }
        return window;
    }

    private int Start(LinkedListNode<uint> chunk, Dictionary<uint, Task> into, CancellationToken stop)
    {
        into[chunk.Value] = provider.WarmAloneAsync(chunk.Value, stop);
        _missing.Remove(chunk);
        return 1;
    }
}
