using System.Net;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A slow origin on demand: forwards every request to a real registry, but holds those whose URL contains
/// <c>gatedText</c> (one blob's digest, say) until the test calls <see cref="Open"/>. The test waits on
/// <see cref="WaitForHeldAsync"/> for the state "N requests are in flight", never on a sleep.
/// </summary>
public sealed class GatedBlobProxy : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _client = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstream;
    private readonly string _gatedText;
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;
    private readonly SemaphoreSlim _changed = new(0);

    public GatedBlobProxy(string upstreamHost, string gatedText)
    {
        _upstream = upstreamHost;
        _gatedText = gatedText;
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Requests held at the gate so far (they stay counted once released).</summary>
    public int Held => Volatile.Read(ref _held);

    public void Open() => _open.TrySetResult();

    public async Task WaitForHeldAsync(int count, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (Held < count)
            await _changed.WaitAsync(deadline.Token);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            if (context.Request.RawUrl?.Contains(_gatedText, StringComparison.Ordinal) == true && context.Request.HttpMethod == "GET")
            {
                Interlocked.Increment(ref _held);
                _changed.Release();
                await _open.Task;
            }
            using var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), $"http://{_upstream}{context.Request.RawUrl}");
            foreach (string? name in context.Request.Headers.AllKeys)
            {
                if (name is null || name is "Host" or "Content-Length" or "Connection")
                    continue;
                request.Headers.TryAddWithoutValidation(name, context.Request.Headers[name]!);
            }
            using var response = await _client.SendAsync(request);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                if (header.Key is "Transfer-Encoding" or "Content-Length" or "Connection")
                    continue;
                context.Response.Headers[header.Key] = string.Join(",", header.Value).Replace(_upstream, Host, StringComparison.Ordinal);
            }
            byte[] content = await response.Content.ReadAsByteArrayAsync();
            if (context.Request.HttpMethod == "HEAD")
                context.Response.ContentLength64 = response.Content.Headers.ContentLength ?? 0;
            else if (content.Length > 0)
                await context.Response.OutputStream.WriteAsync(content);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or HttpRequestException or ObjectDisposedException)
        {
            // The client went away (its fetch was cancelled): nothing to answer.
        }
    }

    public void Dispose()
    {
        Open();
        _listener.Close();
        _client.Dispose();
    }
}
