using System.Net.Http.Json;
using System.Net.Sockets;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>The CLI side of the daemon's local API: HTTP over the daemon's Unix socket.</summary>
public sealed class PeerApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _socket;

    public PeerApiClient(string socketPath, TimeSpan timeout)
    {
        _socket = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://localhost"), Timeout = timeout };
    }

    public static async Task<bool> IsAliveAsync(string socketPath)
    {
        using var client = new PeerApiClient(socketPath, TimeSpan.FromSeconds(2));
        try
        {
            using var response = await client._http.GetAsync("/v1/health");
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
        {
            return false;
        }
    }

    public async Task<MountInfo> MountAsync(MountRequest request, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.PostAsJsonAsync("/v1/mounts", request, cancellationToken));
        return await ReadAsync<MountInfo>(response, cancellationToken);
    }

    public async Task UnmountAsync(string mountPoint, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.DeleteAsync($"/v1/mounts?path={Uri.EscapeDataString(Path.GetFullPath(mountPoint))}", cancellationToken));
        await ReadAsync<object>(response, cancellationToken);
    }

    public async Task<List<MountInfo>> ListAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.GetAsync("/v1/mounts", cancellationToken));
        return await ReadAsync<List<MountInfo>>(response, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e)
        {
            throw new P2PDistException($"no peer daemon answers on {_socket} (start one with `p2pdist peer --data-dir ...`): {e.Message}");
        }
        catch (TaskCanceledException e)
        {
            throw new P2PDistException($"the peer daemon on {_socket} did not answer within {_http.Timeout.TotalSeconds:0} s", e);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var error = await response.Content.ReadFromJsonAsync<ApiError>(cancellationToken);
            throw new P2PDistException(error?.Error ?? $"the peer daemon answered {(int)response.StatusCode}");
        }
        if (typeof(T) == typeof(object))
            return default!;
        return await response.Content.ReadFromJsonAsync<T>(cancellationToken) ?? throw new P2PDistException("the peer daemon sent an empty answer");
    }

    public void Dispose() => _http.Dispose();
}
