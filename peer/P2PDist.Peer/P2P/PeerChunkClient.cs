using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using P2PDist.Peer.P2P.Wire;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Peer.P2P;

/// <summary>
/// Fetches one chunk from another peer's chunk server, over the framed protocol (<see cref="ChunkWire"/>, the
/// default) or HTTP/1.1 (<see cref="PeerProtocol.Http"/>, and for holders that speak only that). Connections
/// leave from this peer's own address (so peers on 127.0.2.x look like separate hosts and per-address link
/// limits apply). A transfer may take as long as the link needs, but one that makes no progress for
/// <c>stallTimeout</c> is abandoned.
/// </summary>
internal sealed class PeerChunkClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly HolderConnections? _tls;
    private readonly TimeSpan _stallTimeout;
    private readonly TimeProvider _time;
    private readonly FramedChunkClient? _framed;

    /// <param name="tls">This peer's cluster certificate: fetch with mutual TLS from holders that prove the name the supernode gave; null for plain text.</param>
    public PeerChunkClient(IPAddress source, TimeSpan stallTimeout, TimeProvider? time = null, TimeSpan? connectTimeout = null, P2PDist.Security.ClusterTls? tls = null,
        PeerProtocol protocol = PeerProtocol.Framed, SwarmMetrics? metrics = null)
    {
        _stallTimeout = stallTimeout;
        _time = time ?? TimeProvider.System;
        _tls = tls is null ? null : new HolderConnections(source, tls);
        _framed = protocol == PeerProtocol.Framed ? new FramedChunkClient(source, tls, _time, connectTimeout ?? ProtocolTimings.Default.ConnectTimeout,
            metrics ?? new SwarmMetrics(MetricFactories.Detached())) : null;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = connectTimeout ?? ProtocolTimings.Default.ConnectTimeout,
            MaxConnectionsPerServer = 64,
            ConnectCallback = P2PDist.Oci.SourceBoundConnect.From(source),
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>BadAddress: the supernode named a holder address that is not a unicast ip:port (L5); nothing was sent.</summary>
    public enum Outcome { Received, Busy, Missing, WrongLength, Stalled, Failed, BadAddress }

    public readonly record struct Result(Outcome Outcome, byte[]? Bytes, string Detail);

    public async Task<Result> GetAsync(string address, string peerId, string chunkName, uint expectedSize, CancellationToken cancellationToken)
    {
        // Only ever "ip:port" of a unicast address: never a host name, a path, or a multicast/link-local/unspecified address.
        if (PeerAddresses.Normalize(address, allowLoopback: true, out string why) is not { } endpoint)
            return new Result(Outcome.BadAddress, null, $"holder address '{Printable(address)}' {why}");
        using var stall = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var link = cancellationToken.Register(() => stall.Cancel());
        stall.CancelAfter(_stallTimeout);
        try
        {
            if (_framed is not null && await _framed.GetAsync(IPEndPoint.Parse(endpoint), peerId, chunkName, expectedSize, stall, _stallTimeout).ConfigureAwait(false) is { } framed)
                return framed;
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{(_tls is null ? "http" : "https")}://{endpoint}/v1/chunks/{chunkName}");
            using var response = await (_tls?.For(endpoint, peerId) ?? _http).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                return new Result(Outcome.Busy, null, "all upload slots busy");
            if (response.StatusCode == HttpStatusCode.NotFound)
                return new Result(Outcome.Missing, null, "chunk not in its cache (evicted?)");
            if (!response.IsSuccessStatusCode)
                return new Result(Outcome.Failed, null, $"HTTP {(int)response.StatusCode}");
            if (response.Content.Headers.ContentLength is { } announced && announced != expectedSize)
                return new Result(Outcome.WrongLength, null, $"announced {announced} bytes, expected {expectedSize}");
            var bytes = new byte[expectedSize];
            await using var body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            int filled = 0;
            while (true)
            {
                // The stall clock restarts with every piece received: slow is fine, stopped is not.
                stall.CancelAfter(_stallTimeout);
                int read = filled < bytes.Length
                    ? await body.ReadAsync(bytes.AsMemory(filled), stall.Token).ConfigureAwait(false)
                    : await body.ReadAsync(new byte[1], stall.Token).ConfigureAwait(false);
                if (read == 0)
                    break;
                filled += read;
                if (filled > bytes.Length)
                    return new Result(Outcome.WrongLength, null, $"sent more than {expectedSize} bytes");
            }
            return filled == bytes.Length
                ? new Result(Outcome.Received, bytes, "")
                : new Result(Outcome.WrongLength, null, $"sent {filled} bytes, expected {expectedSize}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Result(Outcome.Stalled, null, $"no progress for {_stallTimeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException or AuthenticationException or ChunkWireException)
        {
            return new Result(Outcome.Failed, null, e.Message);
        }
    }

    private static string Printable(string text) => new(text.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    public void Dispose()
    {
        _http.Dispose();
        _tls?.Dispose();
        _framed?.Dispose();
    }
}
