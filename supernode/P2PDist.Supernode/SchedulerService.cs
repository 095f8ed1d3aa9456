using Grpc.Core;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Supernode;

/// <summary>The gRPC face of the <see cref="SchedulerIndex"/>: validates every message before it touches the index.</summary>
internal sealed class SchedulerService(SchedulerIndex index, ILogger<SchedulerService> log) : Scheduler.SchedulerBase
{
    private static readonly Random Shuffle = new();

    public override Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.PeerId) || request.PeerId.Length > 128)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "peer_id must be 1 to 128 characters"));
        if (!System.Net.IPEndPoint.TryParse(request.Address, out _))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"address '{request.Address}' is not host:port"));
        index.Register(new PeerRecord(request.PeerId, request.Address, new Dictionary<string, string>(request.Labels)));
        log.LogInformation("peer {PeerId} registered at {Address}", request.PeerId, request.Address);
        return Task.FromResult(new RegisterResponse { HeartbeatIntervalMs = 5000 });
    }

    public override Task<AnnounceResponse> Announce(AnnounceRequest request, ServerCallContext context)
    {
        if (!index.IsKnown(request.PeerId))
            return Task.FromResult(new AnnounceResponse { Known = false });
        index.Touch(request.PeerId);
        Apply(request.PeerId, request.Added, add: true);
        Apply(request.PeerId, request.Removed, add: false);
        return Task.FromResult(new AnnounceResponse { Known = true });
    }

    private void Apply(string peerId, IEnumerable<OrdinalRanges> changes, bool add)
    {
        foreach (var change in changes)
        {
            if (change.Starts.Count != change.Lengths.Count || change.Starts.Count > SchedulerIndex.MaxRangesPerMessage)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"blob {change.BlobDigest}: starts and lengths must pair up (at most {SchedulerIndex.MaxRangesPerMessage})"));
            if (!change.BlobDigest.StartsWith("sha256:", StringComparison.Ordinal) || change.BlobDigest.Length != 71)
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{change.BlobDigest}' is not a blob digest"));
            for (int i = 0; i < change.Starts.Count; i++)
            {
                try
                {
                    if (add)
                        index.Add(peerId, change.BlobDigest, change.Starts[i], change.Lengths[i]);
                    else
                        index.Remove(peerId, change.BlobDigest, change.Starts[i], change.Lengths[i]);
                }
                catch (ArgumentOutOfRangeException e)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
                }
            }
        }
    }

    public override Task<ReportResponse> Report(ReportRequest request, ServerCallContext context)
    {
        if (!index.IsKnown(request.PeerId) || !index.IsKnown(request.BadPeerId))
            throw new RpcException(new Status(StatusCode.NotFound, "reporter or reported peer is unknown"));
        bool blocked = index.Report(request.BadPeerId, request.Fault == Fault.BadDigest);
        log.LogWarning("peer {Reporter} reported {Peer} for {Fault}: {Detail}{Blocked}", request.PeerId, request.BadPeerId, request.Fault,
            request.Detail, blocked ? " (blocked)" : "");
        return Task.FromResult(new ReportResponse { Blocked = blocked });
    }

    public override Task<FindHoldersResponse> FindHolders(FindHoldersRequest request, ServerCallContext context)
    {
        if (request.Ordinals.Count > 4096)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "at most 4096 ordinals per query"));
        index.Touch(request.PeerId);
        var response = new FindHoldersResponse();
        foreach (uint ordinal in request.Ordinals)
        {
            var chunk = new ChunkHolders { Ordinal = ordinal };
            lock (Shuffle)
                chunk.Holders.AddRange(index.Holders(request.PeerId, request.BlobDigest, ordinal, Shuffle).Select(p => new Holder { PeerId = p.Id, Address = p.Address }));
            if (chunk.Holders.Count == 0 && index.IsKnown(request.PeerId))
            {
                bool elected = index.ElectOriginFetcher(request.BlobDigest, ordinal, request.PeerId);
                chunk.FetchFromOrigin = elected;
                chunk.AnotherPeerFetching = !elected;
            }
            response.Chunks.Add(chunk);
        }
        return Task.FromResult(response);
    }
}
