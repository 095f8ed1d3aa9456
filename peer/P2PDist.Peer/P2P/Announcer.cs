using Microsoft.Extensions.Logging;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Tells the supernodes what this peer holds. Changes are batched (<see cref="ProtocolTimings.AnnounceBatch"/>,
/// 100 ms) and sent as ordinal ranges per blob (added and removed), each blob to its owning supernode, with
/// the uploads under way and the transfer rates measured from other peers; with nothing new, an empty
/// announcement every heartbeat interval (the one the supernode gave at registration) is the heartbeat. A
/// supernode that says it does not know this peer (it restarted) gets a registration and everything held.
/// After a failed round it backs off (doubling, bounded). All waits are on the injected <see cref="TimeProvider"/>.
/// </summary>
internal sealed class Announcer : IDisposable
{
    private readonly SwarmMetrics _metrics;
    private readonly string _peerId;
    private readonly SupernodeSet _supernodes;
    private readonly Func<SupernodeSet.Node, Task<bool>> _register;
    private readonly Func<int> _activeUploads;
    private readonly ILogger _log;
    private readonly Func<ProtocolTimings> _timings;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private readonly Dictionary<string, OrdinalSet> _held = new(StringComparer.Ordinal);
    private Dictionary<string, OrdinalSet> _added = new(StringComparer.Ordinal);
    private Dictionary<string, OrdinalSet> _removed = new(StringComparer.Ordinal);
    private List<TransferSample> _transfers = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _rounds;

    public Announcer(string peerId, SupernodeSet supernodes, Func<SupernodeSet.Node, Task<bool>> register, Func<int> activeUploads, ILogger log,
        Func<ProtocolTimings>? timings = null, TimeProvider? time = null, SwarmMetrics? metrics = null)
    {
        _metrics = metrics ?? new SwarmMetrics(MetricFactories.Detached());
        _peerId = peerId;
        _supernodes = supernodes;
        _register = register;
        _activeUploads = activeUploads;
        _log = log;
        _timings = timings ?? (() => ProtocolTimings.Default);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Batching rounds completed (tests on a fake clock wait for the next one).</summary>
    internal int Rounds => Volatile.Read(ref _rounds);

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
        int lastUploads = 0;
        var backoff = TimeSpan.Zero;
        long lastSent = _time.GetTimestamp(), retryAt = lastSent;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_timings().AnnounceBatch, _time, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                int uploads = _activeUploads();
                bool changed;
                lock (_lock)
                    changed = _added.Count > 0 || _removed.Count > 0 || _transfers.Count > 0;
                // Load changes go out within one batch: the supernode ranks holders by them.
                bool due = changed || uploads != lastUploads || _time.GetElapsedTime(lastSent) >= _timings().HeartbeatInterval;
                if (!due || _time.GetTimestamp() < retryAt)
                    continue; // kept for the next round while backing off
                Dictionary<string, OrdinalSet> added, removed;
                List<TransferSample> transfers;
                lock (_lock)
                {
                    (added, removed, transfers) = (_added, _removed, _transfers);
                    _added = new Dictionary<string, OrdinalSet>(StringComparer.Ordinal);
                    _removed = new Dictionary<string, OrdinalSet>(StringComparer.Ordinal);
                    _transfers = [];
                }
                lastUploads = uploads;
                lastSent = _time.GetTimestamp();
                bool delivered = await SendAsync(added, removed, transfers, uploads);
                var timings = _timings();
                backoff = delivered ? TimeSpan.Zero
                    : backoff == TimeSpan.Zero ? timings.RetryBackoffMin
                    : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, timings.RetryBackoffMax.Ticks));
                retryAt = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            }
            finally
            {
                Interlocked.Increment(ref _rounds);
            }
        }
    }

    /// <summary>Sends one round; false when some blob's changes reached no supernode (they are kept for the next round).</summary>
    private async Task<bool> SendAsync(Dictionary<string, OrdinalSet> added, Dictionary<string, OrdinalSet> removed, List<TransferSample> transfers, int uploads)
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
            // Every supernode is down: what is held is announced again (in full) once one answers, and what
            // was dropped is withdrawn then (unless held again meanwhile).
            lock (_lock)
            {
                foreach (string blob in unsent)
                {
                    if (_held.TryGetValue(blob, out var held))
                        Pending(_added, blob).AddSorted(held.ToRanges(blob).Starts, held.ToRanges(blob).Lengths);
                    if (removed.TryGetValue(blob, out var dropped))
                    {
                        var ranges = dropped.ToRanges(blob);
                        var pending = Pending(_removed, blob);
                        pending.AddSorted(ranges.Starts, ranges.Lengths);
                        if (_held.TryGetValue(blob, out var heldNow))
                        {
                            var again = heldNow.ToRanges(blob);
                            pending.RemoveSorted(again.Starts, again.Lengths);
                        }
                        if (pending.Count == 0)
                            _removed.Remove(blob);
                    }
                }
            }
        }
        return unsent.Count == 0 && failed.Count == 0;
    }

    private static OrdinalSet Pending(Dictionary<string, OrdinalSet> sets, string blob)
    {
        if (!sets.TryGetValue(blob, out var set))
            sets[blob] = set = new OrdinalSet();
        return set;
    }

    private async Task<bool> TryAnnounceAsync(SupernodeSet.Node node, AnnounceRequest request)
    {
        try
        {
            // gRPC compares deadlines with the system clock, so they are wall-clock time, not the TimeProvider's.
            var reply = await node.Client.AnnounceAsync(request, deadline: DateTime.UtcNow + _timings().CallDeadline);
            _metrics.SupernodeUp.WithLabels(node.Address).Set(1);
            if (reply.Known)
                return true;
            if (!await _register(node))
                return false;
            var full = new AnnounceRequest { PeerId = _peerId, ActiveUploads = request.ActiveUploads };
            lock (_lock)
                full.Added.AddRange(_held.Select(kv => kv.Value.ToRanges(kv.Key)));
            await node.Client.AnnounceAsync(full, deadline: DateTime.UtcNow + _timings().CallDeadline);
            return true;
        }
        catch (Grpc.Core.RpcException e)
        {
            _metrics.SupernodeUp.WithLabels(node.Address).Set(0);
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
