using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The scheduler's parts wired into a host: the index (with the timings and limits the options give), the
/// gRPC service and the expiry timer. The supernode process and the in-process component tests both use it.
/// </summary>
internal static class SchedulerServices
{
    /// <summary>Largest gRPC message accepted (an announcement of a big cache fits; H2 budgets bound what is in it).</summary>
    public const int MaxMessageBytes = 4 << 20;

    public static ProtocolTimings TimingsFor(SupernodeOptions options)
    {
        var peerTimeout = TimeSpan.FromSeconds(options.PeerTimeoutSeconds);
        // Peers beat at least three times per timeout (they follow RegisterResponse), so a short timeout
        // (tests use 2 s) means faster beats instead of live peers expiring.
        var heartbeat = TimeSpan.FromTicks(Math.Min(ProtocolTimings.Default.HeartbeatInterval.Ticks, peerTimeout.Ticks / 3));
        return ProtocolTimings.Default with
        {
            PeerTimeout = peerTimeout,
            HeartbeatInterval = heartbeat,
            AnnounceBatch = heartbeat < ProtocolTimings.Default.AnnounceBatch ? heartbeat : ProtocolTimings.Default.AnnounceBatch,
            BlockFor = TimeSpan.FromSeconds(options.BlockSeconds),
            OriginLease = TimeSpan.FromSeconds(options.OriginLeaseSeconds),
            WaitForOtherFetcher = TimeSpan.FromSeconds(Math.Max(ProtocolTimings.Default.WaitForOtherFetcher.TotalSeconds, options.OriginLeaseSeconds * 1.2)),
            BackgroundWaitForOtherFetcher = TimeSpan.FromSeconds(Math.Max(ProtocolTimings.Default.BackgroundWaitForOtherFetcher.TotalSeconds, options.OriginLeaseSeconds * 4)),
            OriginLeaseWithoutProgress = TimeSpan.FromSeconds(Math.Max(ProtocolTimings.Default.OriginLeaseWithoutProgress.TotalSeconds, options.OriginLeaseSeconds)),
        };
    }

    public static SchedulerIndex IndexFor(SupernodeOptions options, TimeProvider clock) => new()
    {
        Timings = TimingsFor(options),
        Limits = SchedulerLimits.Default with
        {
            AllowLoopbackAddresses = options.AllowLoopbackAddresses,
            ReportersBeforeBlock = options.ReportersBeforeBlock,
        },
        OriginFetchersPerChunk = options.OriginFetchersPerChunk,
        Clock = clock,
    };

    public static IServiceCollection AddScheduler(this IServiceCollection services, SchedulerIndex index)
    {
        services.AddGrpc(o => o.MaxReceiveMessageSize = MaxMessageBytes);
        services.AddSingleton(index);
        services.AddSingleton<SupernodeMetrics>();
        services.AddSingleton<PeerExpiry>();
        services.AddHostedService(provider => provider.GetRequiredService<PeerExpiry>());
        return services;
    }
}
