using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A transparent reverse proxy (Kestrel, in the test process) in front of a real registry, through which every
/// client reaches it. It records each exchange and counts response body bytes <i>before</i> handing them to the
/// client, so once a client has its bytes the count includes them: exact and synchronous, unlike the registry's
/// access log, which is written after the answer (tests slept before reading it, and under-counted when late).
/// Bodies stream both ways, so large pushes and slow links behave as without it.
/// </summary>
public sealed class CountingProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer", "Expect", "Host", "Content-Length",
    };

    private readonly string _upstream;
    private readonly HttpClient _client = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None })
    {
        Timeout = TimeSpan.FromMinutes(5), // until the registry's response headers; the body is bounded by the client's own deadline
    };
    private readonly ConcurrentQueue<ProxiedExchange> _exchanges = new();
    private WebApplication? _app;

    private CountingProxy(string upstream) => _upstream = upstream;

    public int Port { get; private set; }
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>Every exchange so far, in the order the registry answered them.</summary>
    public IReadOnlyList<ProxiedExchange> Exchanges => [.. _exchanges];

    /// <summary>Blob bytes sent for <paramref name="repository"/> (200 and 206 answers), exact at the moment of the call.</summary>
    public long BlobBytesServed(string repository) => _exchanges.Where(e => e.IsBlobDownload(repository)).Sum(e => e.BodyBytes);

    public static async Task<CountingProxy> StartAsync(string upstreamHost)
    {
        var proxy = new CountingProxy(upstreamHost);
        await proxy.ListenAsync(0);
        return proxy;
    }

    /// <summary>Stops listening (clients see connection refused, as with the registry itself down) and drops open connections.</summary>
    public async Task StopAsync()
    {
        if (_app is null)
            return;
        using var now = new CancellationTokenSource(TimeSpan.FromSeconds(1)); // abort requests in flight rather than drain them
        await _app.StopAsync(now.Token);
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>Listens again on the same port.</summary>
    public Task StartAgainAsync() => ListenAsync(Port);

    private async Task ListenAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, port);
            // Transparent: no body size cap (image pushes) and no minimum data rate (shaped, slow links).
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
        });
        var app = builder.Build();
        app.Run(ForwardAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Port = new Uri(address).Port;
        _app = app;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var incoming = context.Request;
        var aborted = context.RequestAborted;
        using var request = new HttpRequestMessage(new HttpMethod(incoming.Method), $"http://{_upstream}{incoming.Path}{incoming.QueryString}");
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
        {
            request.Content = new StreamContent(incoming.Body);
            request.Content.Headers.ContentLength = incoming.ContentLength;
        }
        else if (incoming.ContentLength == 0)
            request.Content = new ByteArrayContent([]);
        foreach (var (name, values) in incoming.Headers)
        {
            if (HopByHop.Contains(name))
                continue;
            if (!request.Headers.TryAddWithoutValidation(name, values.ToArray()))
                request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
        }
        request.Headers.Host = incoming.Host.Value; // the registry builds upload Locations from it

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, aborted);
        }
        catch (HttpRequestException e)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            await context.Response.WriteAsync($"counting proxy: registry at {_upstream} unreachable: {e.Message}", CancellationToken.None);
            return;
        }
        using (response)
        {
            var exchange = new ProxiedExchange(incoming.Method, incoming.Path.Value ?? "", (int)response.StatusCode);
            _exchanges.Enqueue(exchange);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                if (header.Key is "Transfer-Encoding" or "Connection" or "Keep-Alive")
                    continue;
                string[] values = [.. header.Value.Select(v => header.Key == "Location" ? v.Replace(_upstream, Host, StringComparison.Ordinal) : v)];
                context.Response.Headers[header.Key] = values;
            }
            if (HttpMethods.IsHead(incoming.Method))
                return;
            await using var body = await response.Content.ReadAsStreamAsync(aborted);
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await body.ReadAsync(buffer, aborted)) > 0)
            {
                exchange.Sent(read); // counted first: the client cannot have bytes the count lacks
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), aborted);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _client.Dispose();
    }
}
