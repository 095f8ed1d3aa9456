using System.Net;
using Microsoft.Extensions.Logging;
using P2PDist.Peer.Fetch;
using P2PDist.Protos.Scheduler;
using P2PDist.Rafs;

namespace P2PDist.Peer.P2P;

/// <summary>How this peer joins the swarm.</summary>
public sealed record SwarmSettings(string PeerId, string Listen, string Supernodes)
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? SupernodeCaFile { get; init; }
    public P2PDist.Security.ClusterTls? Tls { get; init; }

    /// <summary>How chunks are asked of holders (framed by default; every chunk port answers both).</summary>
    public PeerProtocol Protocol { get; init; } = PeerProtocol.Framed;

    /// <summary>A transfer from a peer that makes no progress for this long is abandoned (and reported).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The protocol's timings (shared with the supernode; its RegisterResponse overrides the heartbeat and lease).</summary>
    public ProtocolTimings Timings { get; init; } = ProtocolTimings.Default;

    /// <summary>The clock of every wait and poll (a fake one in tests).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// This peer in the swarm: registers with the supernodes, announces chunks as soon as they are verified and
/// cached (see <see cref="Announcer"/>), asks for ranked holders of a missing chunk and fetches it from the
/// best one that answers. Every network wait has a deadline; the caller verifies every byte it gets.
/// </summary>
public sealed class PeerNetwork : IDisposable
{
    /// <summary>Holders tried per chunk before the origin: 3 stalls of 5 s still leave a 30 s read deadline room for the origin.</summary>
    private const int HoldersTried = 3;

    private readonly SwarmSettings _settings;
    private readonly UploadLimiter _uploads;
    private readonly SupernodeSet _supernodes;
    private readonly PeerChunkClient _peers;
    private readonly Announcer _announcer;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly SwarmMetrics _metrics;
    private ProtocolTimings _timings;

    /// <summary>Transfers under way from each holder (entries stay at 0 once used: one per peer ever met).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _downloadsFrom = new(StringComparer.Ordinal);

    public PeerNetwork(SwarmSettings settings, UploadLimiter uploads, ILogger log, SwarmMetrics metrics)
        : this(settings, uploads, log, metrics, new SupernodeSet(settings.Supernodes.Split(','), settings.SupernodeCaFile, settings.Timings, settings.Tls))
    {
    }

    internal PeerNetwork(SwarmSettings settings, UploadLimiter uploads, ILogger log, SwarmMetrics metrics, SupernodeSet supernodes)
    {
        _metrics = metrics;
        settings.Timings.Validate();
        _settings = settings;
        _uploads = uploads;
        _log = log;
        _time = settings.Time;
        _timings = settings.Timings;
        _peers = new PeerChunkClient(IPEndPoint.Parse(settings.Listen).Address, settings.StallTimeout, _time, _timings.ConnectTimeout, settings.Tls, settings.Protocol, metrics);
        _supernodes = supernodes;
        _announcer = new Announcer(settings.PeerId, _supernodes, node => RegisterWithAsync(node, CancellationToken.None), () => _uploads.Active, log, () => Timings, _time, metrics);
    }

    private string PeerId => _settings.PeerId;

    /// <summary>
    /// The timings in force: ours, with the heartbeat interval and lease the supernodes gave at registration
    /// (the fastest heartbeat any of them asked for). A fetch renews its leases every <see cref="ProtocolTimings.LeaseRenewal"/>.
    /// </summary>
    public ProtocolTimings Timings => Volatile.Read(ref _timings);

    internal Announcer Announcer => _announcer;

    /// <summary>Every call to a supernode has a deadline (wall-clock: gRPC compares it with the system clock).</summary>
    private DateTime Deadline() => DateTime.UtcNow + Timings.CallDeadline;

    private DateTimeOffset Now => _time.GetUtcNow();

    public async Task RegisterAsync(CancellationToken cancellationToken)
    {
        foreach (var node in _supernodes.All)
            await RegisterWithAsync(node, cancellationToken);
    }

    private async Task<bool> RegisterWithAsync(SupernodeSet.Node node, CancellationToken cancellationToken)
    {
        try
        {
            var request = new RegisterRequest
            {
                PeerId = PeerId,
                Address = _settings.Listen,
                UploadCapacityBytesPerSecond = _uploads.BytesPerSecond,
                UploadSlots = (uint)_uploads.Slots,
            };
            foreach (var (key, value) in _settings.Labels)
                request.Labels[key] = value;
            var reply = await node.Client.RegisterAsync(request, deadline: Deadline(), cancellationToken: cancellationToken);
            Follow(reply);
            _metrics.SupernodeUp.WithLabels(node.Address).Set(1);
            _log.LogInformation("registered with the supernode {Supernode} as {PeerId} ({Listen})", node.Address, PeerId, _settings.Listen);
            return true;
        }
        catch (Grpc.Core.RpcException e)
        {
            _metrics.SupernodeUp.WithLabels(node.Address).Set(0);
            _log.LogWarning("supernode {Supernode} unreachable, serving from cache, other supernodes and origin: {Reason}", node.Address, e.Status.Detail);
            return false;
        }
    }

    /// <summary>Takes the supernode's heartbeat interval (the fastest any supernode asked for) and lease.</summary>
    private void Follow(RegisterResponse reply)
    {
        while (true)
        {
            var current = Timings;
            var followed = current.FollowSupernode(reply);
            if (followed.HeartbeatInterval > current.HeartbeatInterval && current != _settings.Timings)
                followed = followed with { HeartbeatInterval = current.HeartbeatInterval };
            if (followed.AnnounceBatch > followed.HeartbeatInterval)
                followed = followed with { AnnounceBatch = followed.HeartbeatInterval };
            if (Interlocked.CompareExchange(ref _timings, followed, current) == current)
                return;
        }
    }

    /// <summary>Starts the heartbeat and announcement loop even before the first chunk is held.</summary>
    public void Start() => _announcer.Start();

    /// <summary>Notes that this peer now holds a chunk (announced within 100 ms).</summary>
    public void Announce(string blob, uint ordinal) => _announcer.Added(blob, ordinal);

    /// <summary>Notes that this peer no longer holds a chunk (evicted).</summary>
    public void Withdraw(string blob, uint ordinal) => _announcer.Removed(blob, ordinal);

    public void RecordRejection(string sender, string reason)
    {
        _metrics.PeerFailures.WithLabels("bad_digest").Inc();
        _log.LogWarning("discarded a chunk from peer {Peer}: {Reason}", sender, reason);
        _ = ReportAsync(sender, Fault.BadDigest, reason);
    }

    private async Task ReportAsync(string badPeer, Fault fault, string detail)
    {
        // Every supernode hears it: a bad peer is bad for every blob.
        foreach (var node in _supernodes.All)
        {
            try
            {
                var reply = await node.Client.ReportAsync(new ReportRequest { PeerId = PeerId, BadPeerId = badPeer, Fault = fault, Detail = detail }, deadline: Deadline());
                if (reply.Blocked)
                    _log.LogWarning("the supernode blocked peer {Peer} (supernode {Supernode})", badPeer, node.Address);
            }
            catch (Grpc.Core.RpcException e)
            {
                _log.LogDebug("report to {Supernode} failed: {Reason}", node.Address, e.Status.Detail);
            }
        }
    }

    private Task<FindHoldersResponse?> FindHoldersAsync(string blob, IEnumerable<uint> ordinals, CancellationToken cancellationToken, bool mayElect = true)
    {
        var query = new FindHoldersRequest { PeerId = PeerId, BlobDigest = blob, NoElection = !mayElect };
        query.Ordinals.AddRange(ordinals);
        return _supernodes.FirstAsync(blob, client => client.FindHoldersAsync(query, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync);
    }

    /// <summary>Asks to be the origin fetcher of a run of ordinals; returns how many leading ones were granted (at least 1).</summary>
    public async Task<int> ClaimAsync(string blob, IReadOnlyList<uint> ordinals, CancellationToken cancellationToken)
    {
        var reply = await FindHoldersAsync(blob, ordinals, cancellationToken);
        if (reply is null)
            return ordinals.Count; // no scheduler: fetch the whole run
        int granted = reply.Chunks.TakeWhile(c => c.FetchFromOrigin).Count();
        return Math.Max(1, granted);
    }

    /// <summary>What the swarm knows of many chunks of one blob, electing nobody (see <see cref="SwarmProbe"/>).</summary>
    public async Task<IReadOnlyList<(SwarmProbe State, int Holders)>> ProbeManyAsync(string blob, IReadOnlyList<uint> ordinals, CancellationToken cancellationToken)
    {
        var reply = await FindHoldersAsync(blob, ordinals, cancellationToken, mayElect: false);
        if (reply is null || reply.Chunks.Count != ordinals.Count)
            return ordinals.Select(_ => (SwarmProbe.NoScheduler, 0)).ToList();
        return reply.Chunks.Select(c => (c.Holders.Count > 0 ? SwarmProbe.Held : c.AnotherPeerFetching ? SwarmProbe.OtherFetching : SwarmProbe.Nobody, c.Holders.Count)).ToList();
    }

    /// <summary>
    /// A chunk's uncompressed bytes from the best holder that delivers (unverified: the caller checks them),
    /// or null: then the origin serves. Busy or missing holders are skipped; stalled or failing ones reported.
    /// </summary>
    public async Task<PeerChunk?> TryFetchAsync(string blob, uint ordinal, ChunkDigest digest, uint size, bool background, CancellationToken cancellationToken)
    {
        string name = $"{digest.Algorithm.Name()}-{Convert.ToHexStringLower(digest.Bytes)}";
        var busyUntil = Now + Timings.WaitForBusyHolders;
        while (true)
        {
            var holders = await HoldersOrWaitAsync(blob, ordinal, background, cancellationToken);
            if (holders.Count == 0)
                return null; // nobody holds it (or no supernode answers): the origin it is
            bool allBusy = true;
            // Spread this peer's concurrent downloads over different holders: two transfers from one holder
            // split its upload while another holder may sit idle. Among equals the supernode's order stands.
            foreach (var holder in holders.OrderBy(h => _downloadsFrom.GetValueOrDefault(h.PeerId)).Take(HoldersTried))
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                _downloadsFrom.AddOrUpdate(holder.PeerId, 1, (_, n) => n + 1);
                PeerChunkClient.Result result;
                try
                {
                    result = await _peers.GetAsync(holder.Address, holder.PeerId, name, size, cancellationToken);
                }
                finally
                {
                    _downloadsFrom.AddOrUpdate(holder.PeerId, 0, (_, n) => n - 1);
                }
                allBusy &= result.Outcome == PeerChunkClient.Outcome.Busy;
                if (result.Outcome == PeerChunkClient.Outcome.Received)
                {
                    _announcer.Transfer(holder.PeerId, size, System.Diagnostics.Stopwatch.GetElapsedTime(started));
                    return new PeerChunk(result.Bytes!, holder.PeerId);
                }
                RecordFailure(holder, digest, result);
            }
            // Every holder tried was only busy: the chunk is in the swarm, so waiting a moment for a free upload
            // slot (bounded) beats fetching another copy from the origin.
            if (!allBusy || Now >= busyUntil)
                return null;
            await Task.Delay(Timings.BusyHolderRetry, _time, cancellationToken);
        }
    }

    /// <summary>
    /// The ranked holders of a chunk. When nobody holds it yet but another peer was elected to fetch it from
    /// the origin, waits for that peer (bounded), then asks again. Empty: fetch from the origin. A background
    /// fetch waits longer and asks without election meanwhile, so a slow elected peer (its lease ran out on a
    /// busy machine) is not joined by a second origin copy from a prefetch.
    /// </summary>
    private async Task<IReadOnlyList<Holder>> HoldersOrWaitAsync(string blob, uint ordinal, bool background, CancellationToken cancellationToken)
    {
        var waitUntil = Now + (background ? Timings.BackgroundWaitForOtherFetcher : Timings.WaitForOtherFetcher);
        for (bool first = true; ; first = false)
        {
            var reply = await FindHoldersAsync(blob, [ordinal], cancellationToken, mayElect: first || !background);
            if (reply is null)
                return [];
            var holders = reply.Chunks.SelectMany(c => c.Holders).ToList();
            if (holders.Count > 0 || !reply.Chunks.Any(c => c.AnotherPeerFetching) || Now >= waitUntil)
                return holders;
            await Task.Delay(Timings.OtherFetcherPoll, _time, cancellationToken);
        }
    }

    /// <summary>Counts a failed transfer; blames the holder (a report to the supernodes) unless it was only busy or no longer had the chunk.</summary>
    private void RecordFailure(Holder holder, ChunkDigest digest, PeerChunkClient.Result result)
    {
        switch (result.Outcome)
        {
            case PeerChunkClient.Outcome.Busy:
                _metrics.PeerFailures.WithLabels("busy").Inc();
                break;
            case PeerChunkClient.Outcome.Missing:
                _metrics.PeerFailures.WithLabels("missing").Inc();
                break;
            case PeerChunkClient.Outcome.BadAddress:
                // Nothing was sent to it; the supernode (or whoever answered as one) named a bad address (L5).
                _metrics.PeerFailures.WithLabels("error").Inc();
                _log.LogWarning("not contacting holder {Peer}: {Detail}", holder.PeerId, result.Detail);
                break;
            case PeerChunkClient.Outcome.WrongLength:
                _metrics.PeerFailures.WithLabels("bad_length").Inc();
                _log.LogWarning("peer {Peer} ({Address}) sent a bad chunk {Digest}: {Detail}", holder.PeerId, holder.Address, digest, result.Detail);
                _ = ReportAsync(holder.PeerId, Fault.BadDigest, $"chunk {digest}: {result.Detail}");
                break;
            default:
                _metrics.PeerFailures.WithLabels(result.Outcome == PeerChunkClient.Outcome.Stalled ? "timeout" : "error").Inc();
                _log.LogWarning("peer {Peer} ({Address}) failed for chunk {Digest}: {Detail}", holder.PeerId, holder.Address, digest, result.Detail);
                _ = ReportAsync(holder.PeerId, Fault.Timeout, $"chunk {digest}: {result.Detail}");
                break;
        }
    }

    public void Dispose()
    {
        _announcer.Dispose();
        _supernodes.Dispose();
        _peers.Dispose();
    }
}
