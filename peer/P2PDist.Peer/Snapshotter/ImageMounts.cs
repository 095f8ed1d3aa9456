using Microsoft.Extensions.Logging;
using P2PDist.Peer.Daemon;
using P2PDist.Rafs;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// One FUSE mount per Rafs image (per manifest digest), shared by every container of that image: mounted when
/// the first snapshot on top of the image needs it (or found already mounted, after the daemon restored its
/// mounts at start), unmounted when the last such snapshot is removed. Called under the store's gate.
/// </summary>
public sealed class ImageMounts(MountManager mounts, PeerOptions options, ILogger log)
{
    /// <summary>Where the image's root is mounted: under the daemon's 0700 roots directory, named by digest only.</summary>
    public string MountPointOf(string manifestDigest) => Path.Combine(options.RootsDir, "rafs-" + manifestDigest["sha256:".Length..]);

    public async Task<string> EnsureAsync(RemoteLayer layer, CancellationToken cancellationToken)
    {
        string mountPoint = MountPointOf(layer.ManifestDigest);
        if (mounts.IsOurs(mountPoint))
            return mountPoint;
        try
        {
            await mounts.MountAsync(new MountRequest
            {
                Reference = layer.ImageReference,
                MountPoint = mountPoint,
                PlainHttp = layer.PlainHttp,
                ContainerRoot = true,
                ManifestDigest = layer.ManifestDigest,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError("snapshotter: cannot mount image {Image} for a container: {Reason}", LogText.Clip(layer.ImageReference), e.Message);
            throw new P2PDistException($"image {layer.ImageReference}: the peer could not mount it: {e.Message}");
        }
        return mountPoint;
    }

    public async Task ReleaseAsync(string manifestDigest)
    {
        string mountPoint = MountPointOf(manifestDigest);
        if (await mounts.UnmountAsync(mountPoint, forget: true, CancellationToken.None).ConfigureAwait(false))
            log.LogInformation("snapshotter: unmounted image {Digest}: no snapshot uses it any more", manifestDigest);
    }
}
