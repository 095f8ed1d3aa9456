using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Containers from Rafs images through a real containerd 1.6 and runc, with the peer as containerd's snapshotter:
/// `p2pdist image pull` (lazy), `ctr run --snapshotter p2pdist`, one image mount shared by two containers, a
/// plain OCI image through the same snapshotter, restarts of containerd and of the peer, and garbage collection.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ContainerdSnapshotterTests(RegistryFixture registry)
{
    private const string Hello = "echo hello from $(cat /etc/debian_version); echo scribble > /etc/written-by-container; cat /etc/written-by-container";

    [Fact]
    public async Task RafsImage_PulledLazily_RunsContainers_SharesOneMount_SurvivesRestarts_AndIsCollected()
    {
        string plain = await DebianImage.PushAsync(registry.Host, "ctr-debian", "bookworm");
        string rafs = $"{registry.Host}/ctr-debian:bookworm-rafs";
        await P2PDistCli.RunOkAsync("image", "convert", plain, rafs, "--plain-http");
        var layers = await SnapshotterClient.ResolveAsync(rafs);

        await using var peer = await PeerProcess.StartAsync();
        string snapshotterSocket = Path.Combine(peer.DataDir, "snapshotter.sock");
        (await SnapshotterClient.ConnectAsync(snapshotterSocket)).Dispose();
        await using var containerd = await ContainerdServer.StartAsync(snapshotterSocket);

        var pull = await P2PDistCli.RunOkAsync("image", "pull", "--address", containerd.Address, "--plain-http", rafs);
        Assert.Contains(layers.ManifestDigest, pull.Stdout);
        string imageRoot = Path.Combine(peer.DataDir, "roots", "rafs-" + layers.ManifestDigest["sha256:".Length..]);
        Assert.Equal(0, MountCount.At(imageRoot)); // a pull mounts nothing and downloads no data

        var run = await containerd.CtrOkAsync("run", "--rm", "--snapshotter", "p2pdist", rafs, "c1", "/bin/sh", "-c", Hello);
        Assert.StartsWith("hello from 12", run.Stdout);
        Assert.Contains("scribble", run.Stdout);
        double fetched = MetricsScrape.Value(await peer.MetricsAsync(), "p2pdist_peer_fetched_bytes_total{source=\"origin\"}") ?? 0;
        Assert.True(fetched > 0 && fetched < layers.LayerBytes / 2,
            $"a shell and cat read part of the image: the registry served {fetched:N0} of {layers.LayerBytes:N0} bytes");
        Assert.False(File.Exists(Path.Combine(imageRoot, "etc/written-by-container"))); // writes went to the container's upper directory

        // Two containers of the image at once: one FUSE mount under both.
        await containerd.CtrOkAsync("run", "-d", "--snapshotter", "p2pdist", rafs, "c2", "/bin/sleep", "600");
        await containerd.CtrOkAsync("run", "-d", "--snapshotter", "p2pdist", rafs, "c3", "/bin/sleep", "600");
        Assert.Equal(1, MountCount.At(imageRoot));
        foreach (string id in new[] { "c2", "c3" })
        {
            await containerd.CtrOkAsync("task", "kill", "-s", "KILL", id);
            await Eventually.Async(async () => (await containerd.CtrAsync("task", "delete", id)).ExitCode == 0, TimeSpan.FromSeconds(30), $"task {id} to be deleted");
            await containerd.CtrOkAsync("container", "rm", id);
        }
        // containerd removes deleted containers' snapshots from its snapshotter in its garbage collection, soon after.
        await Eventually.Async(() => Task.FromResult(MountCount.At(imageRoot) == 0), TimeSpan.FromSeconds(60),
            "the image to be unmounted once containerd's collector removed the last container's snapshot");

        // A plain OCI image through the same snapshotter: ordinary overlay layers, downloaded and unpacked by containerd.
        await containerd.CtrOkAsync("image", "pull", "--plain-http", "--snapshotter", "p2pdist", plain);
        var plainRun = await containerd.CtrOkAsync("run", "--rm", "--snapshotter", "p2pdist", plain, "p1", "/bin/sh", "-c", Hello);
        Assert.StartsWith("hello from 12", plainRun.Stdout);

        // Restarts with the snapshots in place: containerd, then the peer.
        await containerd.RestartAsync();
        Assert.StartsWith("hello from 12", (await containerd.CtrOkAsync("run", "--rm", "--snapshotter", "p2pdist", rafs, "c4", "/bin/sh", "-c", Hello)).Stdout);
        await peer.StopAsync();
        await peer.RestartAsync();
        (await SnapshotterClient.ConnectAsync(snapshotterSocket)).Dispose();
        // containerd redials its proxy plugin with a backoff (up to 3 s): wait until a call reaches the new daemon.
        await Eventually.Async(async () => (await containerd.CtrAsync("snapshots", "--snapshotter", "p2pdist", "usage", layers.ChainIds[^1])).ExitCode == 0,
            TimeSpan.FromSeconds(60), "containerd to reach the restarted peer's snapshotter");
        Assert.StartsWith("hello from 12", (await containerd.CtrOkAsync("run", "--rm", "--snapshotter", "p2pdist", rafs, "c5", "/bin/sh", "-c", Hello)).Stdout);

        // Garbage collection: removing the images leaves nothing mounted and no snapshot on disk.
        await containerd.CtrOkAsync("image", "rm", "--sync", rafs, plain);
        using var client = await SnapshotterClient.ConnectAsync(snapshotterSocket);
        await Eventually.Async(async () => (await client.ListAsync()).Count == 0, TimeSpan.FromSeconds(60), "containerd's collector to remove every snapshot",
            () => string.Join(", ", client.ListAsync().GetAwaiter().GetResult().Select(s => s.Name)));
        Assert.Equal(0, MountCount.At(imageRoot));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(peer.DataDir, "snapshots", "dirs")));
    }

}
