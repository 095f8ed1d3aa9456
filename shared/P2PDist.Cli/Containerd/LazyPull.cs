using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// `p2pdist image pull`: a Rafs image into containerd without its data. The manifest and config go into
/// containerd's content store (labelled for its garbage collector the way its own unpack labels them), each
/// layer becomes a remote snapshot on the peer's snapshotter, and the image record points at the manifest; all
/// under a lease, so nothing is collected before the record holds it. The layers themselves are never written:
/// `ctr run` finds the top chain id's snapshot and does not unpack.
/// </summary>
public sealed class LazyPull(ContainerdConnection containerd, string snapshotter, TextWriter output)
{
    public async Task<string> RunAsync(IImageStore registry, string reference, bool plainHttp, CancellationToken cancellationToken)
    {
        var image = await ManifestResolver.ResolveAsync(registry, "linux/amd64", cancellationToken);
        byte[] config = await ConfigBlob.ReadAsync(registry, image.Manifest.Config, cancellationToken);
        var plan = RafsPullPlan.From(image.Manifest, config, reference, snapshotter);
        string manifestDigest = image.Raw.Digest;

        await using (await PullLease.CreateAsync(containerd, cancellationToken))
        {
            var content = new ContentUploads(containerd);
            // Config and manifest hold the snapshots and the config alive once the lease is gone, as containerd's unpack leaves them.
            await content.WriteAsync(config, image.Manifest.Config.Digest,
                new() { [$"containerd.io/gc.ref.snapshot.{snapshotter}"] = plan.ChainIds[^1] }, cancellationToken);
            await content.WriteAsync(image.Raw.Bytes, manifestDigest,
                new() { ["containerd.io/gc.ref.content.config"] = image.Manifest.Config.Digest }, cancellationToken);

            var snapshots = new RemoteSnapshots(containerd, snapshotter);
            for (int i = 0; i < plan.LayerDigests.Count; i++)
            {
                bool present = await snapshots.EnsureAsync(reference, manifestDigest, plan, i, plainHttp, cancellationToken);
                output.WriteLine($"layer {i + 1}/{plan.LayerDigests.Count} {Short(plan.ChainIds[i])} remote{(present ? " (already there)" : "")}");
            }

            await new ImageRecords(containerd).PointAsync(reference, image, cancellationToken);
        }
        output.WriteLine($"pulled {reference} {manifestDigest} lazily: {plan.LayerDigests.Count} remote layers, no layer data downloaded");
        return manifestDigest;
    }

    private static string Short(string chainId) => chainId["sha256:".Length..][..12];
}
