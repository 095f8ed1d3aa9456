using System.Collections.Concurrent;
using System.Net;
using P2PDist.Security;

namespace P2PDist.Peer.P2P;

/// <summary>
/// HTTPS clients for other peers' chunk listeners with mutual TLS: one long-lived connection pool per holder
/// (a TLS handshake per connection, not per chunk) that presents this peer's certificate and accepts only the
/// certificate of the peer the supernode named for that address. A new peer at a known address gets a new pool.
/// </summary>
internal sealed class HolderConnections(IPAddress source, ClusterTls tls) : IDisposable
{
    /// <summary>Pools kept at most; past that every pool is closed and rebuilt on demand (one per peer ever met, bounded).</summary>
    private const int MaxPools = 1024;

    private readonly ConcurrentDictionary<string, (string PeerId, HttpClient Client)> _pools = new(StringComparer.Ordinal);

    public HttpClient For(string address, string peerId)
    {
        if (_pools.TryGetValue(address, out var pool) && pool.PeerId == peerId)
            return pool.Client;
        if (_pools.Count >= MaxPools)
            Clear();
        var created = (peerId, Create(peerId));
        var kept = _pools.AddOrUpdate(address, created, (_, old) =>
        {
            if (old.PeerId == peerId)
                return old;
            old.Client.Dispose(); // another peer now serves at that address
            return created;
        });
        if (!ReferenceEquals(kept.Client, created.Item2))
            created.Item2.Dispose();
        return kept.Client;
    }

    private HttpClient Create(string peerId) => new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(3),
        MaxConnectionsPerServer = 16,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        ConnectCallback = P2PDist.Oci.SourceBoundConnect.From(source),
        // The holder's address is not in its certificate; its name is, and must be the peer id the supernode gave.
        SslOptions = tls.ClientOptions(ClusterRole.Peer, peerId, checkHostName: false),
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    private void Clear()
    {
        foreach (var address in _pools.Keys)
        {
            if (_pools.TryRemove(address, out var pool))
                pool.Client.Dispose();
        }
    }

    public void Dispose() => Clear();
}
