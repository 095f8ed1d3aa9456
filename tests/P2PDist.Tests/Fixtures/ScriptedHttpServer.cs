using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A Kestrel server on one loopback address (127.0.0.x, port chosen by the OS), optionally over TLS, that
/// answers with a test's script and records every request it saw: a fake registry or token service for
/// fault and hostile-answer tests, where a real registry cannot be made to misbehave.
/// </summary>
public sealed class ScriptedHttpServer : IAsyncDisposable
{
    public sealed record SeenRequest(string Method, string PathAndQuery, string? Authorization);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SeenRequest> _seen = new();

    private ScriptedHttpServer(WebApplication app) => _app = app;

    public Uri BaseUri { get; private set; } = null!;
    public string Authority => BaseUri.Authority;
    public IReadOnlyCollection<SeenRequest> Seen => _seen;

    public static async Task<ScriptedHttpServer> StartAsync(IPAddress address, Func<HttpContext, Task> script, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, 0, listen =>
        {
            if (certificate is not null)
                listen.UseHttps(certificate);
        }));
        var app = builder.Build();
        var server = new ScriptedHttpServer(app);
        app.Run(context =>
        {
            server._seen.Enqueue(new SeenRequest(context.Request.Method, context.Request.Path + context.Request.QueryString,
                context.Request.Headers.Authorization.Count > 0 ? context.Request.Headers.Authorization.ToString() : null));
            return script(context);
        });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        string address0 = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUri = new Uri(address0.EndsWith('/') ? address0 : address0 + "/");
        return server;
    }

    /// <summary>Writes <paramref name="bytes"/> of filler as the body, in pieces, stopping early when the client goes away.</summary>
    public static async Task WriteFillerAsync(HttpContext context, long bytes)
    {
        var piece = new byte[64 * 1024];
        Array.Fill(piece, (byte)'x');
        try
        {
            for (long sent = 0; sent < bytes && !context.RequestAborted.IsCancellationRequested; sent += piece.Length)
                await context.Response.Body.WriteAsync(piece, context.RequestAborted);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client stopped reading: what the test wants.
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(deadline.Token);
        await _app.DisposeAsync();
    }
}
