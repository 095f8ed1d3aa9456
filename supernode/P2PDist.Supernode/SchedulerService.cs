using Prometheus;
using Grpc.Core;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The gRPC face of the <see cref="SchedulerIndex"/>: validates every message before it touches the index,
/// so a hostile or buggy peer gets InvalidArgument naming the field, never an exhausted supernode. Every call
/// but Register comes from a registered peer and spends from its request budget (ResourceExhausted past it).
/// </summary>
internal sealed class SchedulerService(SchedulerIndex index, SupernodeMetrics metrics, ILogger<SchedulerService> log) : Scheduler.SchedulerBase
{
    private const int MaxLabels = 32;
    private static readonly Random Shuffle = new();
    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    private SchedulerLimits Limits => index.Limits;

    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        string address = PeerAddresses.Normalize(request.Address, Limits.AllowLoopbackAddresses, out string why)
            ?? throw Invalid($"address '{LogSafe.Text(request.Address, 80)}' {why}");
        if (request.UploadCapacityBytesPerSecond < 0)
            throw Invalid($"upload_capacity_bytes_per_second {request.UploadCapacityBytesPerSecond} is negative");
        if (request.UploadSlots > 4096)
            throw Invalid($"upload_slots {request.UploadSlots} is over 4096");
        if (request.Labels.Count > MaxLabels || request.Labels.Any(l => l.Key.Length is 0 or > 63 || l.Value.Length > 255))
            throw Invalid($"labels: at most {MaxLabels}, keys 1 to 63 characters, values up to 255");
        var outcome = index.Register(new PeerState(request.PeerId, address, new Dictionary<string, string>(request.Labels),
            request.UploadCapacityBytesPerSecond, (int)request.UploadSlots));
        switch (outcome)
        {
            case Registration.AddressConflict:
                metrics.Rejected.Inc();
                log.LogWarning("refused to re-register {PeerId} from {Address}: registered elsewhere and alive", request.PeerId, address);
                throw new RpcException(new Status(StatusCode.AlreadyExists, $"peer {request.PeerId} is registered from another address; it may move once that registration expires"));
            case Registration.Full:
                throw Exhausted($"the supernode holds its limit of {Limits.MaxPeers} peers");
            case Registration.RateLimited:
                throw Exhausted("too many registrations per second; retry shortly");
        }
        metrics.Registrations.Inc();
        log.LogInformation("peer {PeerId} registered at {Address}{Refresh}", request.PeerId, address, outcome == Registration.Refreshed ? " (again)" : "");
        return Task.FromResult(index.Timings.ToRegisterResponse());
    }

    public override Task<AnnounceResponse> Announce(AnnounceRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        if (!index.IsKnown(request.PeerId))
            return Task.FromResult(new AnnounceResponse { Known = false });
        RequireBudget(request.PeerId);
        // Validate everything before changing anything: a bad message changes nothing.
        if (AnnounceValidator.Check(request, Limits) is { } problem)
            throw Invalid(problem);
        if (index.Apply(request.PeerId, request.Added, request.Removed) is { } overBudget)
            throw Invalid(overBudget);
        index.Touch(request.PeerId);
        index.ReportLoad(request.PeerId, (int)request.ActiveUploads);
        foreach (var transfer in request.Transfers)
            index.AddTransfer(request.PeerId, transfer.FromPeerId, transfer.Bytes, transfer.Micros);
        metrics.Announcements.Inc();
        return Task.FromResult(new AnnounceResponse { Known = true });
    }

    public override Task<ReportResponse> Report(ReportRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        RequirePeerId(request.BadPeerId);
        if (request.Fault is not (Fault.BadDigest or Fault.Timeout))
            throw Invalid($"fault {request.Fault} is not one of BAD_DIGEST, TIMEOUT");
        if (!index.IsKnown(request.PeerId) || !index.IsKnown(request.BadPeerId))
            throw new RpcException(new Status(StatusCode.NotFound, $"reporter {request.PeerId} or reported peer {request.BadPeerId} is unknown"));
        RequireBudget(request.PeerId);
        var outcome = index.Report(request.PeerId, request.BadPeerId, request.Fault == Fault.BadDigest);
        metrics.Reports.WithLabels(request.Fault == Fault.BadDigest ? "bad_digest" : "timeout").Inc();
        log.LogWarning("peer {Reporter} reported {Peer} for {Fault}: {Detail}{Outcome}", request.PeerId, request.BadPeerId, request.Fault,
            LogSafe.Text(request.Detail), outcome switch
            {
                SchedulerIndex.ReportOutcome.Blocked => " (blocked)",
                SchedulerIndex.ReportOutcome.NotHanded => " (not counted: that holder was not handed to the reporter)",
                _ => "",
            });
        return Task.FromResult(new ReportResponse { Blocked = outcome == SchedulerIndex.ReportOutcome.Blocked });
    }

    public override Task<FindHoldersResponse> FindHolders(FindHoldersRequest request, ServerCallContext context)
    {
        using var timer = metrics.HolderQuerySeconds.NewTimer(); // the handler is synchronous: this is its whole time
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        RequireBlobDigest(request.BlobDigest);
        if (request.Ordinals.Count > Limits.MaxOrdinalsPerQuery)
            throw Invalid($"at most {Limits.MaxOrdinalsPerQuery} ordinals per query, got {request.Ordinals.Count}");
        foreach (uint ordinal in request.Ordinals)
        {
            if (ordinal >= SchedulerLimits.MaxOrdinal)
                throw Invalid($"ordinal {ordinal} exceeds the limit of {SchedulerLimits.MaxOrdinal} chunks per blob");
        }
        // Only registered peers ask (H1), and asking is not a heartbeat (L6: a stranger cannot keep a dead peer listed).
        if (!index.IsKnown(request.PeerId))
            throw new RpcException(new Status(StatusCode.NotFound, $"peer {request.PeerId} is not registered: register first"));
        RequireBudget(request.PeerId);
        var response = new FindHoldersResponse();
        foreach (uint ordinal in request.Ordinals)
        {
            var chunk = new ChunkHolders { Ordinal = ordinal };
            lock (Shuffle)
                chunk.Holders.AddRange(index.Holders(request.PeerId, request.BlobDigest, ordinal, Shuffle, assign: !request.NoElection).Select(p => new Holder { PeerId = p.Id, Address = p.Address }));
            if (chunk.Holders.Count == 0 && request.NoElection)
            {
                chunk.AnotherPeerFetching = index.IsBeingFetched(request.BlobDigest, ordinal);
            }
            else if (chunk.Holders.Count == 0)
            {
                var election = index.ElectOriginFetcher(request.BlobDigest, ordinal, request.PeerId);
                chunk.FetchFromOrigin = election is Election.Elected or Election.Renewed or Election.HeldNotRenewed;
                chunk.AnotherPeerFetching = election == Election.Wait;
                // Renewals are not elections (a fetch renews every couple of seconds while it runs).
                metrics.OriginElections.WithLabels(election switch
                {
                    Election.Elected => "elected",
                    Election.Wait => "wait",
                    Election.OverLimit => "over_limit",
                    _ => "renewed",
                }).Inc();
            }
            metrics.HolderQueries.WithLabels(chunk.Holders.Count > 0 ? "held" : "none").Inc();
            response.Chunks.Add(chunk);
        }
        return Task.FromResult(response);
    }

    private void RequirePeerId(string peerId)
    {
        if (!PeerIds.IsValid(peerId))
            throw Invalid($"peer id '{LogSafe.Text(peerId, 40)}' must be 1 to {PeerIds.MaxLength} characters of A-Z a-z 0-9 . _ : -");
    }

    private void RequireBudget(string peerId)
    {
        if (!index.Admit(peerId))
        {
            metrics.Rejected.Inc(); // not logged: a flood would flood the log too
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"peer {peerId} is over {Limits.RequestsPerSecond} requests per second"));
        }
    }

    private void RequireBlobDigest(string digest)
    {
        if (BlobDigestProblem(digest) is { } problem)
            throw Invalid(problem);
    }

    internal static string? BlobDigestProblem(string digest) =>
        digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.Length == 71 && !digest.AsSpan(7).ContainsAnyExcept(LowerHex)
            ? null
            : $"'{LogSafe.Text(digest, 80)}' is not a blob digest (sha256:<64 hex>)";

    /// <summary>Counts and logs a refused message: a hostile or broken peer shows up in the logs and on the dashboard.</summary>
    private RpcException Invalid(string message, [System.Runtime.CompilerServices.CallerMemberName] string where = "")
    {
        metrics.Rejected.Inc();
        log.LogWarning("refused a message ({Where}): {Reason}", where, message);
        return new RpcException(new Status(StatusCode.InvalidArgument, message));
    }

    private RpcException Exhausted(string message, [System.Runtime.CompilerServices.CallerMemberName] string where = "")
    {
        metrics.Rejected.Inc();
        log.LogWarning("refused a message ({Where}): {Reason}", where, message);
        return new RpcException(new Status(StatusCode.ResourceExhausted, message));
    }
}
