using System.Net;
using System.Net.Sockets;

namespace P2PDist.Oci;

/// <summary>
/// A SocketsHttpHandler connect callback whose connections leave from a given local address: a node's
/// traffic then all comes from its own address, so peers on 127.0.2.x look like separate hosts and a
/// per-address link limit (tc) applies to everything each one sends and receives.
/// </summary>
public static class SourceBoundConnect
{
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> From(IPAddress source) =>
        async (context, cancellationToken) => await ConnectAsync(source, context.DnsEndPoint, cancellationToken).ConfigureAwait(false);

    /// <summary>A TCP connection to <paramref name="remote"/> from <paramref name="source"/> (any port), Nagle off.</summary>
    public static async ValueTask<NetworkStream> ConnectAsync(IPAddress source, EndPoint remote, CancellationToken cancellationToken)
    {
        var socket = new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
