using Grpc.Core;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>
/// The gRPC face of the <see cref="SchedulerIndex"/>: validates every message before it touches the index,
/// so a hostile or buggy peer gets InvalidArgument naming the field, never an exhausted supernode.
/// </summary>
internal sealed class SchedulerService(SchedulerIndex index, ILogger<SchedulerService> log) : Scheduler.SchedulerBase
{
    private const int MaxOrdinalsPerQuery = 4096;
    private const int MaxTransfersPerAnnounce = 4096;
    private const int MaxLabels = 32;
    private static readonly Random Shuffle = new();
    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        if (!System.Net.IPEndPoint.TryParse(request.Address, out var endpoint) || endpoint.Port == 0)
            throw Invalid($"address '{request.Address}' is not host:port");
        if (request.UploadCapacityBytesPerSecond < 0)
            throw Invalid($"upload_capacity_bytes_per_second {request.UploadCapacityBytesPerSecond} is negative");
        if (request.UploadSlots > 4096)
            throw Invalid($"upload_slots {request.UploadSlots} is over 4096");
        if (request.Labels.Count > MaxLabels || request.Labels.Any(l => l.Key.Length is 0 or > 63 || l.Value.Length > 255))
            throw Invalid($"labels: at most {MaxLabels}, keys 1 to 63 characters, values up to 255");
        index.Register(new PeerState(request.PeerId, request.Address, new Dictionary<string, string>(request.Labels),
            request.UploadCapacityBytesPerSecond, (int)request.UploadSlots));
        SupernodeMetrics.Registrations.Inc();
        log.LogInformation("peer {PeerId} registered at {Address}", request.PeerId, request.Address);
        return Task.FromResult(new RegisterResponse { HeartbeatIntervalMs = 5000 });
    }

    public override Task<AnnounceResponse> Announce(AnnounceRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        if (!index.IsKnown(request.PeerId))
            return Task.FromResult(new AnnounceResponse { Known = false });
        if (request.Transfers.Count > MaxTransfersPerAnnounce)
            throw Invalid($"at most {MaxTransfersPerAnnounce} transfer samples per announcement");
        if (request.ActiveUploads > 4096)
            throw Invalid($"active_uploads {request.ActiveUploads} is over 4096");
        // Validate everything before changing anything: a bad message changes nothing.
        foreach (var change in request.Added.Concat(request.Removed))
            Validate(change);
        index.Touch(request.PeerId);
        index.ReportLoad(request.PeerId, (int)request.ActiveUploads);
        foreach (var transfer in request.Transfers)
            index.AddTransfer(transfer.FromPeerId, transfer.Bytes, transfer.Micros);
        Apply(request.PeerId, request.Added, add: true);
        Apply(request.PeerId, request.Removed, add: false);
        SupernodeMetrics.Announcements.Inc();
        return Task.FromResult(new AnnounceResponse { Known = true });
    }

    private void Validate(OrdinalRanges change)
    {
        RequireBlobDigest(change.BlobDigest);
        if (change.Starts.Count != change.Lengths.Count || change.Starts.Count > SchedulerIndex.MaxRangesPerMessage)
            throw Invalid($"blob {change.BlobDigest}: starts and lengths must pair up (at most {SchedulerIndex.MaxRangesPerMessage})");
        for (int i = 0; i < change.Starts.Count; i++)
        {
            if ((ulong)change.Starts[i] + change.Lengths[i] > SchedulerIndex.MaxOrdinal)
                throw Invalid($"blob {change.BlobDigest}: ordinals {change.Starts[i]}+{change.Lengths[i]} exceed the limit of {SchedulerIndex.MaxOrdinal} chunks per blob");
        }
    }

    private void Apply(string peerId, IEnumerable<OrdinalRanges> changes, bool add)
    {
        foreach (var change in changes)
        {
            for (int i = 0; i < change.Starts.Count; i++)
            {
                if (add)
                    index.Add(peerId, change.BlobDigest, change.Starts[i], change.Lengths[i]);
                else
                    index.Remove(peerId, change.BlobDigest, change.Starts[i], change.Lengths[i]);
            }
        }
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
        bool blocked = index.Report(request.BadPeerId, request.Fault == Fault.BadDigest);
        SupernodeMetrics.Reports.WithLabels(request.Fault == Fault.BadDigest ? "bad_digest" : "timeout").Inc();
        string detail = request.Detail.Length > 512 ? request.Detail[..512] + "..." : request.Detail;
        log.LogWarning("peer {Reporter} reported {Peer} for {Fault}: {Detail}{Blocked}", request.PeerId, request.BadPeerId, request.Fault,
            detail, blocked ? " (blocked)" : "");
        return Task.FromResult(new ReportResponse { Blocked = blocked });
    }

    public override Task<FindHoldersResponse> FindHolders(FindHoldersRequest request, ServerCallContext context)
    {
        CallerIdentity.Require(context, request.PeerId);
        RequirePeerId(request.PeerId);
        RequireBlobDigest(request.BlobDigest);
        if (request.Ordinals.Count > MaxOrdinalsPerQuery)
            throw Invalid($"at most {MaxOrdinalsPerQuery} ordinals per query, got {request.Ordinals.Count}");
        foreach (uint ordinal in request.Ordinals)
        {
            if (ordinal >= SchedulerIndex.MaxOrdinal)
                throw Invalid($"ordinal {ordinal} exceeds the limit of {SchedulerIndex.MaxOrdinal} chunks per blob");
        }
        index.Touch(request.PeerId);
        bool known = index.IsKnown(request.PeerId);
        var response = new FindHoldersResponse();
        foreach (uint ordinal in request.Ordinals)
        {
            var chunk = new ChunkHolders { Ordinal = ordinal };
            lock (Shuffle)
                chunk.Holders.AddRange(index.Holders(request.PeerId, request.BlobDigest, ordinal, Shuffle, assign: !request.NoElection).Select(p => new Holder { PeerId = p.Id, Address = p.Address }));
            // Only a registered peer is elected: an unknown one could never announce what it fetched.
            if (chunk.Holders.Count == 0 && request.NoElection)
            {
                chunk.AnotherPeerFetching = index.IsBeingFetched(request.BlobDigest, ordinal);
            }
            else if (chunk.Holders.Count == 0 && known)
            {
                bool elected = index.ElectOriginFetcher(request.BlobDigest, ordinal, request.PeerId);
                chunk.FetchFromOrigin = elected;
                chunk.AnotherPeerFetching = !elected;
                SupernodeMetrics.OriginElections.WithLabels(elected ? "elected" : "wait").Inc();
            }
            SupernodeMetrics.HolderQueries.WithLabels(chunk.Holders.Count > 0 ? "held" : "none").Inc();
            response.Chunks.Add(chunk);
        }
        return Task.FromResult(response);
    }

    private void RequirePeerId(string peerId)
    {
        if (string.IsNullOrWhiteSpace(peerId) || peerId.Length > 128)
            throw Invalid($"peer id '{(peerId.Length > 40 ? peerId[..40] + "..." : peerId)}' must be 1 to 128 characters");
    }

    private void RequireBlobDigest(string digest)
    {
        if (!digest.StartsWith("sha256:", StringComparison.Ordinal) || digest.Length != 71 || digest.AsSpan(7).ContainsAnyExcept(LowerHex))
            throw Invalid($"'{(digest.Length > 80 ? digest[..80] + "..." : digest)}' is not a blob digest (sha256:<64 hex>)");
    }

    /// <summary>Counts and logs a refused message: a hostile or broken peer shows up in the logs and on the dashboard.</summary>
    private RpcException Invalid(string message, [System.Runtime.CompilerServices.CallerMemberName] string where = "")
    {
        SupernodeMetrics.Rejected.Inc();
        log.LogWarning("refused a message ({Where}): {Reason}", where, message);
        return new RpcException(new Status(StatusCode.InvalidArgument, message));
    }
}
