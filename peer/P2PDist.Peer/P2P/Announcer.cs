using Microsoft.Extensions.Logging;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Tells the supernodes what this peer holds. Changes are batched every 100 ms and sent as ordinal ranges per
/// blob (added and removed), each blob to its owning supernode, with the uploads under way and the transfer
/// rates measured from other peers; with nothing new, an empty announcement every 5 s is the heartbeat. A
/// supernode that says it does not know this peer (it restarted) gets a registration and everything held.
/// </summary>
internal sealed class Announcer : IDisposable
{
    private readonly string _peerId;
    private readonly SupernodeSet _supernodes;
    private readonly Func<SupernodeSet.Node, Task<bool>> _register;
    private readonly Func<int> _activeUploads;
    private readonly ILogger _log;
    private readonly object _lock = new();
    private readonly Dictionary<string, OrdinalSet> _held = new(StringComparer.Ordinal);
    private Dictionary<string, OrdinalSet> _added = new(StringComparer.Ordinal);
    private Dictionary<string, OrdinalSet> _removed = new(StringComparer.Ordinal);
    private List<TransferSample> _transfers = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public Announcer(string peerId, SupernodeSet supernodes, Func<SupernodeSet.Node, Task<bool>> register, Func<int> activeUploads, ILogger log)
    {
        _peerId = peerId;
        _supernodes = supernodes;
        _register = register;
        _activeUploads = activeUploads;
        _log = log;
    }

    public void Start()
    {
        lock (_lock)
            _loop ??= Task.Run(LoopAsync);
    }

    public void Added(string blob, uint ordinal)
    {
        lock (_lock)
        {
            Add(_held, blob, ordinal);
            Add(_added, blob, ordinal);
            Remove(_removed, blob, ordinal);
        }
        Start();
    }

    public void Removed(string blob, uint ordinal)
    {
        lock (_lock)
        {
            Remove(_held, blob, ordinal);
            Remove(_added, blob, ordinal);
            Add(_removed, blob, ordinal);
        }
    }

    public void Transfer(string fromPeer, long bytes, TimeSpan elapsed)
    {
        lock (_lock)
        {
            if (_transfers.Count < 4096)
                _transfers.Add(new TransferSample { FromPeerId = fromPeer, Bytes = (ulong)bytes, Micros = (ulong)Math.Max(1, elapsed.Ticks / 10) });
        }
    }

    private static void Add(Dictionary<string, OrdinalSet> sets, string blob, uint ordinal)
    {
        if (!sets.TryGetValue(blob, out var set))
            sets[blob] = set = new OrdinalSet();
        set.Add(ordinal);
    }

    private static void Remove(Dictionary<string, OrdinalSet> sets, string blob, uint ordinal)
    {
        if (!sets.TryGetValue(blob, out var set))
            return;
        set.Remove(ordinal);
        if (set.Count == 0)
            sets.Remove(blob);
    }

    private async Task LoopAsync()
    {
        int idleRounds = 0, lastUploads = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(100, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Dictionary<string, OrdinalSet> added, removed;
            List<TransferSample> transfers;
            lock (_lock)
            {
                (added, removed, transfers) = (_added, _removed, _transfers);
                if (added.Count > 0)
                    _added = new Dictionary<string, OrdinalSet>(StringComparer.Ordinal);
                if (removed.Count > 0)
                    _removed = new Dictionary<string, OrdinalSet>(StringComparer.Ordinal);
                if (transfers.Count > 0)
                    _transfers = [];
            }
            int uploads = _activeUploads();
            // Load changes go out within 100 ms: the supernode ranks holders by them.
            if (added.Count > 0 || removed.Count > 0 || transfers.Count > 0 || uploads != lastUploads || ++idleRounds >= 50)
            {
                idleRounds = 0;
                lastUploads = uploads;
                await SendAsync(added, removed, transfers, uploads);
            }
        }
    }

    private async Task SendAsync(Dictionary<string, OrdinalSet> added, Dictionary<string, OrdinalSet> removed, List<TransferSample> transfers, int uploads)
    {
        // One message per supernode: each blob's changes go to its owner (or the next one up when the owner is down).
        var unsent = new List<string>();
        var messages = _supernodes.All.ToDictionary(n => n, _ => new AnnounceRequest { PeerId = _peerId, ActiveUploads = (uint)uploads });
        foreach (var blob in added.Keys.Union(removed.Keys, StringComparer.Ordinal))
        {
            var owner = _supernodes.For(blob).First();
            if (added.TryGetValue(blob, out var a))
                messages[owner].Added.Add(a.ToRanges(blob));
            if (removed.TryGetValue(blob, out var r))
                messages[owner].Removed.Add(r.ToRanges(blob));
        }
        foreach (var node in _supernodes.All)
            messages[node].Transfers.AddRange(transfers);
        var failed = new List<SupernodeSet.Node>();
        foreach (var (node, message) in messages)
        {
            if (!await TryAnnounceAsync(node, message))
                failed.Add(node);
        }
        foreach (var node in failed)
        {
            var message = messages[node];
            foreach (string blob in message.Added.Concat(message.Removed).Select(c => c.BlobDigest).Distinct())
            {
                // The owner is down: the next supernode in the blob's order takes this blob's changes.
                var fallback = _supernodes.For(blob).FirstOrDefault(n => !failed.Contains(n));
                var changes = new AnnounceRequest { PeerId = _peerId };
                changes.Added.AddRange(message.Added.Where(c => c.BlobDigest == blob));
                changes.Removed.AddRange(message.Removed.Where(c => c.BlobDigest == blob));
                if (fallback is null || !await TryAnnounceAsync(fallback, changes))
                    unsent.Add(blob);
            }
        }
        if (unsent.Count > 0)
        {
            // Every supernode is down: what was added is announced again (in full) once one answers.
            lock (_lock)
            {
                foreach (string blob in unsent)
                {
                    if (_held.TryGetValue(blob, out var held))
                    {
                        var ranges = held.ToRanges(blob);
                        for (int i = 0; i < ranges.Starts.Count; i++)
                        {
                            if (!_added.TryGetValue(blob, out var pending))
                                _added[blob] = pending = new OrdinalSet();
                            pending.AddRange(ranges.Starts[i], ranges.Lengths[i]);
                        }
                    }
                }
            }
        }
    }

    private async Task<bool> TryAnnounceAsync(SupernodeSet.Node node, AnnounceRequest request)
    {
        try
        {
            var reply = await node.Client.AnnounceAsync(request, deadline: DateTime.UtcNow.AddSeconds(5));
            PeerMetrics.SupernodeUp.WithLabels(node.Address).Set(1);
            if (reply.Known)
                return true;
            if (!await _register(node))
                return false;
            var full = new AnnounceRequest { PeerId = _peerId, ActiveUploads = request.ActiveUploads };
            lock (_lock)
                full.Added.AddRange(_held.Select(kv => kv.Value.ToRanges(kv.Key)));
            await node.Client.AnnounceAsync(full, deadline: DateTime.UtcNow.AddSeconds(5));
            return true;
        }
        catch (Grpc.Core.RpcException e)
        {
            PeerMetrics.SupernodeUp.WithLabels(node.Address).Set(0);
            _log.LogDebug("announce to {Supernode} failed: {Reason}", node.Address, e.Status.Detail);
            return false;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // Stopping anyway.
        }
        _stop.Dispose();
    }
}
