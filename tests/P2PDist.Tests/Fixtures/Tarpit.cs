using System.Net;
using System.Net.Sockets;

namespace P2PDist.Tests.Fixtures;

/// <summary>A hostile registry on 127.0.0.1 that accepts connections and never answers (a tar pit).</summary>
public sealed class Tarpit : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<TcpClient> _held = [];
    private readonly CancellationTokenSource _stop = new();

    public Tarpit()
    {
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string Host => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Connections accepted so far: the client got this far and is now waiting.</summary>
    public int Accepted
    {
        get
        {
            lock (_held)
                return _held.Count;
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_held)
                    _held.Add(client);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_held)
        {
            foreach (var client in _held)
                client.Dispose();
        }
    }
}
