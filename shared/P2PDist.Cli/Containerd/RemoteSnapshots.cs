using Grpc.Core;
using P2PDist.Protos.Containerd.Snapshots;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// Makes each Rafs layer a committed snapshot named by its chain id without containerd downloading it: a Prepare
/// with the remote-snapshot labels, which a remote snapshotter answers with AlreadyExists once it has committed
/// the layer itself (containerd's unpacker relies on the same answer).
/// </summary>
public sealed class RemoteSnapshots(ContainerdConnection containerd, string snapshotter)
{
    private readonly Snapshots.SnapshotsClient snapshots = new(containerd.Channel);

    /// <summary>True when the layer was there already (an earlier pull), false when the snapshotter took it now.</summary>
    public async Task<bool> EnsureAsync(string reference, string manifestDigest, RafsPullPlan plan, int index, bool plainHttp, CancellationToken cancellationToken)
    {
        string chainId = plan.ChainIds[index];
        if (await ExistsAsync(chainId, plan.LayerDigests[index], index, cancellationToken))
            return true;

        string key = $"extract-{UnixNanos()}-{chainId["sha256:".Length..]}";
        var request = new PrepareSnapshotRequest { Snapshotter = snapshotter, Key = key, Parent = index == 0 ? "" : plan.ChainIds[index - 1] };
        request.Labels.Add(LayerLabels.For(reference, manifestDigest, plan.LayerDigests, index, chainId, plainHttp));
        try
        {
            await snapshots.PrepareAsync(request, containerd.Call(cancellationToken));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
        {
            return false;
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"snapshotter '{snapshotter}' refused layer {index + 1} ({plan.LayerDigests[index]})", e);
        }

        // An active snapshot means the snapshotter wants the layer's tar applied: it is not the peer's (or the
        // peer could not reach the image), and containerd would have to download the data after all.
        await RemoveQuietlyAsync(key);
        throw new P2PDistException($"layer {index + 1} ({plan.LayerDigests[index]}): snapshotter '{snapshotter}' did not take it as a remote layer; "
            + "is it the p2pdist peer's snapshotter (see `p2pdist containerd config`)? The peer's log says why.");
    }

    private async Task<bool> ExistsAsync(string chainId, string layerDigest, int index, CancellationToken cancellationToken)
    {
        try
        {
            await snapshots.StatAsync(new StatSnapshotRequest { Snapshotter = snapshotter, Key = chainId }, containerd.Call(cancellationToken));
            return true;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return false;
        }
        catch (RpcException e)
        {
            throw containerd.Failed($"look up snapshot {chainId} of layer {index + 1} ({layerDigest}) on snapshotter '{snapshotter}'", e);
        }
    }

    private async Task RemoveQuietlyAsync(string key)
    {
        try
        {
            await snapshots.RemoveAsync(new RemoveSnapshotRequest { Snapshotter = snapshotter, Key = key }, containerd.Call(CancellationToken.None));
        }
        catch (RpcException)
        {
            // Once the lease is gone nothing references it, and containerd's collector removes it.
        }
    }

    private static long UnixNanos() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
}
