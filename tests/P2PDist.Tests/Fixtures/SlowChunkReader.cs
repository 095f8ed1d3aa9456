using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A hostile chunk client (review finding M3): one TLS connection to a peer's chunk listener with a tiny receive
/// window, one GET, then reading the body as slowly as it likes, to hold the upload slot.
/// </summary>
public sealed class SlowChunkReader : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly SslStream _tls;

    private SlowChunkReader(TcpClient tcp, SslStream tls, string status)
    {
        _tcp = tcp;
        _tls = tls;
        Status = status;
    }

    /// <summary>The response's status code, e.g. "200" or "503".</summary>
    public string Status { get; }

    public static async Task<SlowChunkReader> StartAsync(string host, int port, string chunk, SslClientAuthenticationOptions options)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var tcp = new TcpClient { ReceiveBufferSize = 4096 };
        await tcp.ConnectAsync(host, port, deadline.Token);
        var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(options, deadline.Token);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /v1/chunks/{chunk} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"), deadline.Token);
        var head = new StringBuilder();
        byte[] one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 8192)
        {
            if (await tls.ReadAsync(one, deadline.Token) == 0)
                throw new IOException($"connection closed in the response head: {head}");
            head.Append((char)one[0]);
        }
        string status = head.ToString().Split(' ', 3)[1];
        return new SlowChunkReader(tcp, tls, status);
    }

    /// <summary>Reads the body at about <paramref name="bytesPerSecond"/> until the server closes the connection or <paramref name="stop"/>; returns the bytes read.</summary>
    public async Task<long> ReadSlowlyAsync(int bytesPerSecond, CancellationToken stop)
    {
        byte[] buffer = new byte[bytesPerSecond];
        long total = 0;
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await tick.WaitForNextTickAsync(stop))
            {
                int read = await _tls.ReadAsync(buffer, stop);
                if (read == 0)
                    break;
                total += read;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Stopped by the test, or cut off by the server.
        }
        return total;
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
    }
}
