using Grpc.Core;
using P2PDist.Protos;
using P2PDist.Protos.Cri;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The Kubernetes path: a Rafs image pulled through containerd's CRI (runtime.v1 ImageService.PullImage, namespace
/// k8s.io, as the kubelet pulls), with the peer as CRI's snapshotter, becomes remote snapshots without its data
/// being downloaded, and a container of it runs.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class CriPullTests(RegistryFixture registry)
{
    [Fact]
    public async Task RafsImage_PulledThroughCri_IsRemote_AndRuns()
    {
        string plain = await DebianImage.PushAsync(registry.Host, "cri-debian", "bookworm");
        string rafs = $"{registry.Host}/cri-debian:bookworm-rafs";
        await P2PDistCli.RunOkAsync("image", "convert", plain, rafs, "--plain-http");
        var layers = await SnapshotterClient.ResolveAsync(rafs);

        // CRI sends no plain-HTTP hint: the peer is told which registries are plain HTTP, and so is CRI's resolver.
        await using var peer = await PeerProcess.StartAsync(null, "--plain-http-registries", registry.Host);
        string snapshotterSocket = Path.Combine(peer.DataDir, "snapshotter.sock");
        using var snapshots = await SnapshotterClient.ConnectAsync(snapshotterSocket);
        await using var containerd = await ContainerdServer.StartAsync(snapshotterSocket, registry.Host);

        using var channel = UnixSocketChannel.For(containerd.Address, TimeSpan.FromSeconds(10));
        var images = new ImageService.ImageServiceClient(channel);
        var pulled = await images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = rafs } },
            new CallOptions(deadline: DateTime.UtcNow.AddMinutes(3)));
        Assert.StartsWith("sha256:", pulled.ImageRef); // CRI answers with the image id (its config digest)
        Assert.Contains(rafs, (await containerd.CtrOkAsync("-n", "k8s.io", "images", "ls", "-q")).Stdout.Split('\n'));

        var remote = (await snapshots.ListAsync()).Where(s => s.Labels.GetValueOrDefault("containerd.io/snapshot/p2pdist.remote") == "true").ToList();
        Assert.Equal(layers.ChainIds.Order(), remote.Select(s => s.Name).Order());
        string imageRoot = Path.Combine(peer.DataDir, "roots", "rafs-" + layers.ManifestDigest["sha256:".Length..]);
        Assert.Equal(0, MountCount.At(imageRoot)); // pulled, nothing read yet

        var run = await containerd.CtrOkAsync("-n", "k8s.io", "run", "--rm", "--snapshotter", "p2pdist", rafs, "pod-c1", "/bin/sh", "-c", "echo hello from $(cat /etc/debian_version)");
        Assert.StartsWith("hello from 12", run.Stdout);
    }
}
