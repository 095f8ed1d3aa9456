using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Peer.P2P;

/// <summary>
/// The cluster's supernodes as one peer sees them. Each blob belongs to one supernode, chosen by rendezvous
/// hashing of the blob digest (every peer computes the same owner with no coordination, and losing a
/// supernode moves only its blobs); when the owner does not answer, the next in the blob's order serves.
/// </summary>
internal sealed class SupernodeSet : IDisposable
{
    public sealed record Node(string Address, GrpcChannel Channel, Scheduler.SchedulerClient Client);

    private readonly List<Node> _nodes;

    /// <param name="caFile">PEM CA that signed the supernodes' certificates: speak TLS (https) and trust only it; null for h2c.</param>
    /// <param name="tls">This peer's cluster certificate: mutual TLS, presenting it and accepting only a supernode certificate of the cluster CA.</param>
    public SupernodeSet(IEnumerable<string> addresses, string? caFile = null, ProtocolTimings? timings = null, P2PDist.Security.ClusterTls? tls = null)
        : this(addresses, address =>
        {
            var handler = new SocketsHttpHandler { ConnectTimeout = (timings ?? ProtocolTimings.Default).ConnectTimeout };
            if (caFile is not null)
                handler.SslOptions = P2PDist.Oci.PrivateCa.ClientOptions(caFile);
            if (tls is not null)
                handler.SslOptions = tls.ClientOptions(P2PDist.Security.ClusterRole.Supernode, expectedName: null, checkHostName: true);
            bool secure = caFile is not null || tls is not null;
            return (new Uri($"{(secure ? "https" : "http")}://{address}"), handler);
        })
    {
    }

    /// <summary>With the transport to each supernode given (in-process tests hand a TestServer's handler).</summary>
    internal SupernodeSet(IEnumerable<string> addresses, Func<string, (Uri Uri, HttpMessageHandler Handler)> transport)
    {
        _nodes = addresses.Select(a => a.Trim()).Where(a => a.Length > 0).Distinct().Select(a =>
        {
            var (uri, handler) = transport(a);
            var channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions { HttpHandler = handler });
            return new Node(a, channel, new Scheduler.SchedulerClient(channel));
        }).ToList();
        if (_nodes.Count == 0)
            throw new P2PDist.Rafs.P2PDistException("--supernode names no supernode");
    }

    public IReadOnlyList<Node> All => _nodes;

    /// <summary>The supernodes in the order a blob tries them: its owner first.</summary>
    public IEnumerable<Node> For(string blob) => _nodes.OrderByDescending(n => Weight(blob, n.Address));

    private static ulong Weight(string blob, string address) =>
        BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(blob + "|" + address)));

    /// <summary>
    /// Runs a call on the blob's owner, failing over to the next supernodes; null when none answers. Any
    /// refusal but a cancellation moves on (down, unreachable, over its rate, or it does not know this peer
    /// yet: the announcer registers again on its next round), so a supernode's answer never fails a read.
    /// </summary>
    public async Task<T?> FirstAsync<T>(string blob, Func<Scheduler.SchedulerClient, Task<T>> call) where T : class
    {
        foreach (var node in For(blob))
        {
            try
            {
                return await call(node.Client).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
            {
                // The next supernode in this blob's order takes over.
            }
        }
        return null;
    }

    public void Dispose()
    {
        foreach (var node in _nodes)
            node.Channel.Dispose();
    }
}
