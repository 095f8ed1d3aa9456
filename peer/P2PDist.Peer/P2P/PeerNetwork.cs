using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using P2PDist.Peer.Fetch;
using P2PDist.Protos.Scheduler;
using P2PDist.Rafs;

namespace P2PDist.Peer.P2P;

/// <summary>
/// This peer in the swarm: registers with the supernode, announces chunks as soon as they are verified and
/// cached, asks for holders of a missing chunk and fetches it from them over HTTP. Its outgoing connections
/// use the listen address as their source, so peers on 127.0.2.x look like separate hosts. Every network
/// wait has a deadline; the caller verifies every byte it gets.
/// </summary>
public sealed class PeerNetwork : IDisposable
{
    private readonly string _peerId;
    private readonly string _listen;
    private readonly SupernodeSet _supernodes;
    private readonly HttpClient _peers;
    private readonly ILogger _log;
    private readonly TimeSpan _peerTimeout;

    /// <param name="supernodes">ADDRESS:PORT[,ADDRESS:PORT...]: blobs are spread over them by rendezvous hashing.</param>
    public PeerNetwork(string peerId, string listen, string supernodes, TimeSpan peerTimeout, ILogger log)
    {
        _peerId = peerId;
        _listen = listen;
        _log = log;
        _peerTimeout = peerTimeout;
        var source = IPEndPoint.Parse(listen).Address;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0)); // source address = this peer's own address
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _peers = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _supernodes = new SupernodeSet(supernodes.Split(','));
    }

    /// <summary>How long a peer waits for another peer elected to fetch a chunk from the origin before fetching it itself.</summary>
    public TimeSpan WaitForOtherFetcher { get; init; } = TimeSpan.FromSeconds(6);

    public void RecordRejection(string sender, string reason)
    {
        _log.LogWarning("discarded a chunk from a peer ({Peer}): {Reason}", sender, reason);
        _ = ReportAsync(sender, Fault.BadDigest, reason);
    }

    private async Task ReportAsync(string badPeer, Fault fault, string detail)
    {
        // Every supernode hears it: a bad peer is bad for every blob.
        foreach (var node in _supernodes.All)
        {
            try
            {
                var reply = await node.Client.ReportAsync(new ReportRequest { PeerId = _peerId, BadPeerId = badPeer, Fault = fault, Detail = detail },
                    deadline: Deadline());
                if (reply.Blocked)
                    _log.LogWarning("the supernode blocked peer {Peer}", badPeer);
            }
            catch (Grpc.Core.RpcException e)
            {
                _log.LogDebug("report to {Supernode} failed: {Reason}", node.Address, e.Status.Detail);
            }
        }
    }

    /// <summary>Every call to a supernode has a deadline.</summary>
    private static DateTime Deadline() => DateTime.UtcNow.AddSeconds(5);

    public async Task RegisterAsync(CancellationToken cancellationToken)
    {
        foreach (var node in _supernodes.All)
            await RegisterWithAsync(node, cancellationToken);
    }

    private async Task<bool> RegisterWithAsync(SupernodeSet.Node node, CancellationToken cancellationToken)
    {
        try
        {
            await node.Client.RegisterAsync(new RegisterRequest { PeerId = _peerId, Address = _listen }, deadline: Deadline(), cancellationToken: cancellationToken);
            _log.LogInformation("registered with the supernode {Supernode} as {PeerId} ({Listen})", node.Address, _peerId, _listen);
            return true;
        }
        catch (Grpc.Core.RpcException e)
        {
            _log.LogWarning("supernode {Supernode} unreachable, serving from cache, other supernodes and origin: {Reason}", node.Address, e.Status.Detail);
            return false;
        }
    }

    private readonly object _holdingsLock = new();
    private readonly Dictionary<string, SortedSet<uint>> _held = new(StringComparer.Ordinal);
    private Dictionary<string, SortedSet<uint>> _pending = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Task? _flusher;

    /// <summary>
    /// Notes that this peer now holds a chunk. Announcements are batched (every 100 ms) and sent as ordinal
    /// ranges per blob, so a peer holding a million chunks sends a few messages, not a million.
    /// </summary>
    public void Announce(string blob, uint ordinal)
    {
        lock (_holdingsLock)
        {
            Add(_held, blob, ordinal);
            Add(_pending, blob, ordinal);
            _flusher ??= Task.Run(FlushLoopAsync);
        }
    }

    /// <summary>Starts the heartbeat and announcement loop even before the first chunk is held.</summary>
    public void Start()
    {
        lock (_holdingsLock)
            _flusher ??= Task.Run(FlushLoopAsync);
    }

    private static void Add(Dictionary<string, SortedSet<uint>> sets, string blob, uint ordinal)
    {
        if (!sets.TryGetValue(blob, out var set))
            sets[blob] = set = [];
        set.Add(ordinal);
    }

    private async Task FlushLoopAsync()
    {
        int idleRounds = 0;
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
            Dictionary<string, SortedSet<uint>> batch;
            lock (_holdingsLock)
            {
                batch = _pending;
                if (batch.Count > 0)
                    _pending = new Dictionary<string, SortedSet<uint>>(StringComparer.Ordinal);
            }
            // An empty announcement every 5 s is the heartbeat: it tells us when a restarted supernode forgot us.
            if (batch.Count > 0 || ++idleRounds >= 50)
            {
                idleRounds = 0;
                await SendAsync(batch);
            }
        }
    }

    /// <summary>
    /// Sends a batch, each blob to its owning supernode (failing over down the blob's order), and an empty
    /// announcement to every supernode as the heartbeat. A supernode that says it does not know us (it
    /// restarted) gets a registration and everything we hold.
    /// </summary>
    private async Task SendAsync(Dictionary<string, SortedSet<uint>> batch)
    {
        var unsent = new Dictionary<string, SortedSet<uint>>(StringComparer.Ordinal);
        foreach (var (blob, ordinals) in batch)
        {
            var request = new AnnounceRequest { PeerId = _peerId };
            request.Added.Add(Ranges(blob, ordinals));
            bool sent = false;
            foreach (var node in _supernodes.For(blob))
            {
                if (await TryAnnounceAsync(node, request))
                {
                    sent = true;
                    break;
                }
            }
            if (!sent)
                unsent[blob] = ordinals;
        }
        foreach (var node in _supernodes.All)
            await TryAnnounceAsync(node, new AnnounceRequest { PeerId = _peerId });
        if (unsent.Count > 0)
        {
            // Every supernode is down: keep what was not sent for the next round.
            lock (_holdingsLock)
            {
                foreach (var (blob, ordinals) in unsent)
                    foreach (uint ordinal in ordinals)
                        Add(_pending, blob, ordinal);
            }
        }
    }

    private async Task<bool> TryAnnounceAsync(SupernodeSet.Node node, AnnounceRequest request)
    {
        try
        {
            var reply = await node.Client.AnnounceAsync(request, deadline: Deadline());
            if (reply.Known)
                return true;
            if (!await RegisterWithAsync(node, CancellationToken.None))
                return false;
            Dictionary<string, SortedSet<uint>> everything;
            lock (_holdingsLock)
                everything = _held.ToDictionary(kv => kv.Key, kv => new SortedSet<uint>(kv.Value), StringComparer.Ordinal);
            var full = new AnnounceRequest { PeerId = _peerId };
            full.Added.AddRange(everything.Select(kv => Ranges(kv.Key, kv.Value)));
            await node.Client.AnnounceAsync(full, deadline: Deadline());
            if (request.Added.Count > 0)
                await node.Client.AnnounceAsync(request, deadline: Deadline());
            return true;
        }
        catch (Grpc.Core.RpcException e)
        {
            _log.LogDebug("announce to {Supernode} failed: {Reason}", node.Address, e.Status.Detail);
            return false;
        }
    }

    /// <summary>Collapses sorted ordinals into (start, length) ranges.</summary>
    internal static OrdinalRanges Ranges(string blob, SortedSet<uint> ordinals)
    {
        var ranges = new OrdinalRanges { BlobDigest = blob };
        uint start = 0, length = 0;
        foreach (uint ordinal in ordinals)
        {
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
            start = ordinal;
            length = 1;
        }
        if (length > 0)
        {
            ranges.Starts.Add(start);
            ranges.Lengths.Add(length);
        }
        return ranges;
    }

    /// <summary>Asks to be the origin fetcher of a run of ordinals; returns how many leading ones were granted (at least 1).</summary>
    public async Task<int> ClaimAsync(string blob, IReadOnlyList<uint> ordinals, CancellationToken cancellationToken)
    {
        var query = new FindHoldersRequest { PeerId = _peerId, BlobDigest = blob };
        query.Ordinals.AddRange(ordinals);
        var reply = await _supernodes.FirstAsync(blob, client => client.FindHoldersAsync(query, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        if (reply is null)
            return ordinals.Count; // no scheduler: fetch the whole run
        int granted = 0;
        foreach (var chunk in reply.Chunks)
        {
            if (!chunk.FetchFromOrigin)
                break;
            granted++;
        }
        return Math.Max(1, granted);
    }

    /// <summary>A chunk's uncompressed bytes from the best holder that answers, or null (then the origin serves).</summary>
    public async Task<PeerChunk?> TryFetchAsync(string blob, uint ordinal, ChunkDigest digest, uint size, CancellationToken cancellationToken)
    {
        var query = new FindHoldersRequest { PeerId = _peerId, BlobDigest = blob, Ordinals = { ordinal } };
        var waitUntil = DateTime.UtcNow + WaitForOtherFetcher;
        FindHoldersResponse? holders;
        while (true)
        {
            holders = await _supernodes.FirstAsync(blob, client => client.FindHoldersAsync(query, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync);
            if (holders is null)
                return null; // no supernode answers: the origin it is
            // Another peer was elected to fetch this chunk from the origin: wait for it (bounded), then take it from that peer.
            if (holders.Chunks.Any(c => c.Holders.Count > 0) || !holders.Chunks.Any(c => c.AnotherPeerFetching) || DateTime.UtcNow >= waitUntil)
                break;
            await Task.Delay(100, cancellationToken);
        }
        foreach (var holder in holders.Chunks.SelectMany(c => c.Holders).Take(3))
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(_peerTimeout);
            try
            {
                var bytes = await _peers.GetByteArrayAsync($"http://{holder.Address}/v1/chunks/{digest.Algorithm.Name()}-{Convert.ToHexStringLower(digest.Bytes)}", attempt.Token);
                if (bytes.Length == size)
                {
                    return new PeerChunk(bytes, holder.PeerId);
                }
                _log.LogWarning("peer {Peer} sent {Length} bytes for chunk {Digest}, expected {Size}", holder.PeerId, bytes.Length, digest, size);
                _ = ReportAsync(holder.PeerId, Fault.BadDigest, $"wrong length for chunk {digest}");
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                _log.LogWarning("peer {Peer} ({Address}) failed for chunk {Digest}: {Reason}", holder.PeerId, holder.Address, digest, e.Message);
                _ = ReportAsync(holder.PeerId, Fault.Timeout, e.Message);
            }
        }
        return null;
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _flusher?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // Stopping anyway.
        }
        _supernodes.Dispose();
        _peers.Dispose();
    }
}
