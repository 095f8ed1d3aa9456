using System.Net;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Fault injection in front of a real registry: forwards every request, but answers the first
/// <c>failures</c> requests matching a filter with 503 or by dropping the connection.
/// </summary>
public sealed class FlakyProxy : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _client = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstream;
    private readonly Func<HttpListenerRequest, bool> _filter;
    private readonly bool _dropConnection;
    private int _failuresLeft;

    public FlakyProxy(string upstreamHost, int failures, bool dropConnection, Func<HttpListenerRequest, bool>? filter = null)
    {
        _upstream = upstreamHost;
        _failuresLeft = failures;
        _dropConnection = dropConnection;
        _filter = filter ?? (_ => true);
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public int FailuresInjected { get; private set; }

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
        if (_filter(context.Request) && Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            FailuresInjected++;
            if (_dropConnection)
                context.Response.Abort();
            else
            {
                context.Response.StatusCode = 503;
                context.Response.Close();
            }
            return;
        }
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), $"http://{_upstream}{context.Request.RawUrl}");
        if (context.Request.HasEntityBody)
        {
            var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            request.Content = new ByteArrayContent(body.ToArray());
        }
        foreach (string? name in context.Request.Headers.AllKeys)
        {
            if (name is null || name is "Host" or "Content-Length" or "Connection")
                continue;
            string value = context.Request.Headers[name]!;
            if (!request.Headers.TryAddWithoutValidation(name, value))
                request.Content?.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await _client.SendAsync(request);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding" or "Content-Length" or "Connection")
                continue;
            string value = string.Join(",", header.Value);
            if (header.Key == "Location")
                value = value.Replace(_upstream, Host, StringComparison.Ordinal);
            context.Response.Headers[header.Key] = value;
        }
        byte[] content = await response.Content.ReadAsByteArrayAsync();
        if (content.Length > 0 && context.Request.HttpMethod != "HEAD")
            await context.Response.OutputStream.WriteAsync(content);
        else if (response.Content.Headers.ContentLength is { } length && context.Request.HttpMethod == "HEAD")
            context.Response.ContentLength64 = length;
        context.Response.Close();
    }

    public void Dispose()
    {
        _listener.Close();
        _client.Dispose();
    }
}
