using System.Globalization;
using Grpc.Core;
using P2PDist.Protos.Containerd.Leases;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// The lease a pull runs under: containerd's garbage collector keeps whatever the pull writes until the image
/// record holds it. It expires by itself an hour on, so a pull killed before it deletes the lease leaks nothing.
/// </summary>
public sealed class PullLease : IAsyncDisposable
{
    private const string ExpireLabel = "containerd.io/gc.expire";

    private readonly ContainerdConnection containerd;
    private readonly string id;

    private PullLease(ContainerdConnection containerd, string id)
    {
        this.containerd = containerd;
        this.id = id;
    }

    public static async Task<PullLease> CreateAsync(ContainerdConnection containerd, CancellationToken cancellationToken)
    {
        string id = $"p2pdist-pull-{Guid.NewGuid():N}";
        var request = new CreateRequest
        {
            Id = id,
            Labels = { [ExpireLabel] = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) },
        };
        try
        {
            await new Leases.LeasesClient(containerd.Channel).CreateAsync(request, containerd.Call(cancellationToken));
        }
        catch (RpcException e)
        {
            throw containerd.Failed("create a lease for the pull", e);
        }
        containerd.Lease = id;
        return new PullLease(containerd, id);
    }

    public async ValueTask DisposeAsync()
    {
        containerd.Lease = null;
        try
        {
            // Not the pull's token: a cancelled pull should still let go of its lease.
            await new Leases.LeasesClient(containerd.Channel).DeleteAsync(new DeleteRequest { Id = id }, containerd.Call(CancellationToken.None));
        }
        catch (RpcException)
        {
            // It expires within the hour; the image record, if made, already holds what it needs.
        }
    }
}
