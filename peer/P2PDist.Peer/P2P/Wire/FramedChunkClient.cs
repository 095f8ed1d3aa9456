using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using P2PDist.Security;

namespace P2PDist.Peer.P2P.Wire;

/// <summary>
/// Fetches chunks from holders over <see cref="ChunkWire"/>, keeping a few idle connections per holder (one
/// TCP and TLS set-up for thousands of chunks). With certificates, a holder must prove the peer name the
/// supernode gave for its address; a new peer at a known address gets new connections. A holder that answers
/// the preface in HTTP is an older peer: it is remembered, and the caller fetches from it over HTTP/1.1.
/// </summary>
internal sealed class FramedChunkClient(IPAddress source, ClusterTls? tls, TimeProvider time, TimeSpan connectTimeout, SwarmMetrics metrics) : IDisposable
{
    private const int MaxIdlePerHolder = 16;
    private const int MaxHolders = 1024;

    /// <summary>Idle connections older than this are dropped, well before the holder closes them (<see cref="FramedChunkServer.IdleTimeout"/>).</summary>
    public static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, Holder> _holders = new(StringComparer.Ordinal);

    /// <summary>
    /// Outcome of one fetch; null when the holder speaks only HTTP (nothing was fetched). Throws what the
    /// connection threw (I/O, TLS, a broken frame, <paramref name="stall"/> cancelled) for the caller to classify.
    /// </summary>
    public async Task<PeerChunkClient.Result?> GetAsync(IPEndPoint endpoint, string peerId, string chunkName, uint expectedSize, CancellationTokenSource stall, TimeSpan stallTimeout)
    {
        var holder = HolderFor(endpoint.ToString(), peerId);
        if (holder.HttpOnly)
            return null;
        for (int attempt = 1; ; attempt++)
        {
            var (connection, reused) = TakeIdle(holder) is { } idle ? (idle, true) : (await OpenAsync(endpoint, peerId, stall.Token), false);
            try
            {
                return await ExchangeAsync(connection, chunkName, expectedSize, stall, stallTimeout);
            }
            catch (HolderSpeaksHttpException)
            {
                holder.HttpOnly = true;
                return null;
            }
            catch (Exception e) when (reused && !connection.Answering && attempt == 1 && e is IOException or SocketException)
            {
                // The holder closed this idle connection before our request reached it: one fresh try, not a fault of the holder.
            }
            finally
            {
                if (connection.Reusable)
                    Return(holder, connection);
                else
                    connection.Dispose();
            }
        }
    }

    private static async Task<PeerChunkClient.Result> ExchangeAsync(FramedConnection connection, string chunkName, uint expectedSize, CancellationTokenSource stall, TimeSpan stallTimeout)
    {
        await connection.SendRequestAsync(chunkName, stall.Token);
        var response = await connection.ReadResponseAsync(stall.Token);
        switch (response.Status)
        {
            case ChunkStatus.Busy:
                return new(PeerChunkClient.Outcome.Busy, null, "all upload slots busy");
            case ChunkStatus.Missing:
                return new(PeerChunkClient.Outcome.Missing, null, "chunk not in its cache (evicted?)");
            case ChunkStatus.BadRequest:
                return new(PeerChunkClient.Outcome.Failed, null, $"holder refused the request: {response.Detail}");
        }
        if (response.Length != expectedSize)
            return new(PeerChunkClient.Outcome.WrongLength, null, $"announced {response.Length} bytes, expected {expectedSize}");
        var bytes = new byte[expectedSize];
        // The stall clock restarts with every piece received: slow is fine, stopped is not.
        await connection.ReadBodyAsync(bytes, () => stall.CancelAfter(stallTimeout), stall.Token);
        return new(PeerChunkClient.Outcome.Received, bytes, "");
    }

    private async Task<FramedConnection> OpenAsync(IPEndPoint endpoint, string peerId, CancellationToken stalled)
    {
        using var connect = CancellationTokenSource.CreateLinkedTokenSource(stalled);
        connect.CancelAfter(connectTimeout);
        try
        {
            // The holder's address is not in its certificate; its name is, and must be the peer id the supernode gave.
            var connection = await FramedConnection.OpenAsync(source, endpoint, tls?.ClientOptions(ClusterRole.Peer, peerId, checkHostName: false), connect.Token);
            metrics.PeerConnectionsOpened.Inc();
            return connection;
        }
        catch (OperationCanceledException) when (!stalled.IsCancellationRequested)
        {
            throw new IOException($"no connection to {endpoint} within {connectTimeout.TotalSeconds:0.#} s");
        }
    }

    private Holder HolderFor(string address, string peerId)
    {
        if (_holders.TryGetValue(address, out var known) && known.PeerId == peerId)
            return known;
        if (_holders.Count >= MaxHolders)
            Clear();
        var fresh = new Holder(peerId);
        var kept = _holders.AddOrUpdate(address, fresh, (_, old) =>
        {
            if (old.PeerId == peerId)
                return old;
            old.DisposeIdle(); // another peer now serves at that address
            return fresh;
        });
        return kept;
    }

    private FramedConnection? TakeIdle(Holder holder)
    {
        while (holder.Idle.TryPop(out var idle))
        {
            if (time.GetElapsedTime(idle.ReturnedAt) < IdleLimit)
                return idle.Connection;
            idle.Connection.Dispose();
        }
        return null;
    }

    private void Return(Holder holder, FramedConnection connection)
    {
        if (holder.Idle.Count < MaxIdlePerHolder)
            holder.Idle.Push((connection, time.GetTimestamp()));
        else
            connection.Dispose();
    }

    private void Clear()
    {
        foreach (var address in _holders.Keys)
        {
            if (_holders.TryRemove(address, out var holder))
                holder.DisposeIdle();
        }
    }

    public void Dispose() => Clear();

    private sealed class Holder(string peerId)
    {
        public string PeerId { get; } = peerId;
        public ConcurrentStack<(FramedConnection Connection, long ReturnedAt)> Idle { get; } = new();
        public volatile bool HttpOnly;

        public void DisposeIdle()
        {
            while (Idle.TryPop(out var idle))
                idle.Connection.Dispose();
        }
    }
}
