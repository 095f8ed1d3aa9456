namespace P2PDist.Supernode;

/// <summary>
/// Drops peers whose heartbeats stopped, and ends election leases and blocks that ran out: a periodic timer
/// on the injected <see cref="TimeProvider"/> (tests advance a fake clock instead of waiting).
/// </summary>
internal sealed class PeerExpiry(SchedulerIndex index, SupernodeMetrics metrics, ILogger<PeerExpiry> log) : BackgroundService
{
    /// <summary>Raised after each sweep with the peers it dropped (tests wait on it).</summary>
    public event Action<IReadOnlyList<string>>? Swept;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(index.Timings.ExpiryScan, index.Clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var dropped = index.Expire();
                foreach (var peer in dropped)
                {
                    metrics.Expired.Inc();
                    log.LogWarning("peer {PeerId} missed its heartbeats: dropped with its holdings", peer);
                }
                Swept?.Invoke(dropped);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
