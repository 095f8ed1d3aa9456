using System.Collections.Concurrent;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using P2PDist.Protos.Scheduler;
using P2PDist.Supernode;

namespace P2PDist.Tests.Component;

/// <summary>
/// The supernode's real gRPC service, index and expiry timer hosted in the test process (ASP.NET Core
/// TestServer: no sockets), on a <see cref="FakeTimeProvider"/>: tests move time instead of waiting for it.
/// Log lines are kept for tests that check what reaches the log.
/// </summary>
internal sealed class InProcessSupernode : IAsyncDisposable
{
    public const string BlobA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    public const string BlobB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private InProcessSupernode(WebApplication app, FakeTimeProvider clock, ConcurrentQueue<string> logs)
    {
        _app = app;
        Clock = clock;
        Logs = logs;
        Handler = app.GetTestServer().CreateHandler();
        _channel = GrpcChannel.ForAddress(app.GetTestServer().BaseAddress, new GrpcChannelOptions { HttpHandler = Handler, DisposeHttpClient = true, MaxSendMessageSize = null });
        Client = new Scheduler.SchedulerClient(_channel);
    }

    public FakeTimeProvider Clock { get; }
    public ConcurrentQueue<string> Logs { get; }
    public HttpMessageHandler Handler { get; }
    public Scheduler.SchedulerClient Client { get; }
    public SchedulerIndex Index => _app.Services.GetRequiredService<SchedulerIndex>();
    public SupernodeMetrics Metrics => _app.Services.GetRequiredService<SupernodeMetrics>();
    private PeerExpiry Expiry => _app.Services.GetRequiredService<PeerExpiry>();

    public static async Task<InProcessSupernode> StartAsync(SupernodeOptions? options = null, Func<SchedulerLimits, SchedulerLimits>? limits = null)
    {
        options ??= new SupernodeOptions();
        options.Validate();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var logs = new ConcurrentQueue<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new QueueLoggerProvider(logs));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        var index = SchedulerServices.IndexFor(options, clock);
        if (limits is not null)
            index = new SchedulerIndex { Timings = index.Timings, Limits = limits(index.Limits), OriginFetchersPerChunk = index.OriginFetchersPerChunk, Clock = clock };
        builder.Services.AddScheduler(index);
        var app = builder.Build();
        app.MapGrpcService<SchedulerService>();
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return new InProcessSupernode(app, clock, logs);
    }

    public static DateTime Deadline() => DateTime.UtcNow.AddSeconds(10);

    public async Task RegisterAsync(string id, string address, long capacity = 0) =>
        await Client.RegisterAsync(new RegisterRequest { PeerId = id, Address = address, UploadCapacityBytesPerSecond = capacity }, deadline: Deadline());

    public async Task<bool> AnnounceAsync(string id, string? blob = null, uint start = 0, uint length = 0)
    {
        var request = new AnnounceRequest { PeerId = id };
        if (blob is not null)
            request.Added.Add(new OrdinalRanges { BlobDigest = blob, Starts = { start }, Lengths = { length } });
        return (await Client.AnnounceAsync(request, deadline: Deadline())).Known;
    }

    public async Task<FindHoldersResponse> FindAsync(string asker, string blob, bool noElection = false, params uint[] ordinals)
    {
        var request = new FindHoldersRequest { PeerId = asker, BlobDigest = blob, NoElection = noElection };
        request.Ordinals.AddRange(ordinals);
        return await Client.FindHoldersAsync(request, deadline: Deadline());
    }

    public async Task<List<string>> HolderIdsAsync(string asker, string blob, uint ordinal) =>
        (await FindAsync(asker, blob, true, ordinal)).Chunks.SelectMany(c => c.Holders).Select(h => h.PeerId).ToList();

    /// <summary>Moves the clock and waits (bounded) for expiry sweeps until <paramref name="done"/> holds.</summary>
    public async Task AdvanceAsync(TimeSpan by, Func<bool>? done = null)
    {
        done ??= () => true;
        var swept = new SemaphoreSlim(0);
        void OnSwept(IReadOnlyList<string> _) => swept.Release();
        Expiry.Swept += OnSwept;
        try
        {
            Clock.Advance(by);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            // At least one sweep after the advance; then more only while the state is not there yet.
            do
            {
                if (!await swept.WaitAsync(TimeSpan.FromSeconds(10)))
                    throw new TimeoutException($"no expiry sweep within 10 s after advancing {by}");
            }
            while (!done() && DateTime.UtcNow < deadline);
            Assert.True(done(), $"the state did not follow within 10 s of advancing the clock by {by}");
        }
        finally
        {
            Expiry.Swept -= OnSwept;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await _app.DisposeAsync();
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(lines);

        public void Dispose()
        {
        }
    }

    private sealed class QueueLogger(ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }
}
