using Grpc.Core;
using P2PDist.Protos.Containerd.Snapshots;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The peer's containerd snapshotter, driven over its socket the way containerd drives it (the protocol, without
/// containerd): remote snapshots for Rafs layers, overlay snapshots over the image's one FUSE mount, plain
/// snapshots for ordinary layers, persistence across a peer restart, and refused input.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class SnapshotterTests(RegistryFixture registry)
{
    [Fact]
    public async Task RafsLayers_BecomeRemoteSnapshots_ContainersShareOneImageMount_AndSurviveAPeerRestart()
    {
        var source = SampleImages.Rich();
        var image = await SnapshotterClient.ResolveAsync(await source.PushAndConvertAsync(registry.Host, "snapshotter-rich"));
        await using var peer = await PeerProcess.StartAsync();
        string socket = Path.Combine(peer.DataDir, "snapshotter.sock");
        Assert.Equal("600", (await ProcessRunner.RunCheckedAsync("stat", "-c", "%a", socket)).Stdout.Trim());
        var client = await SnapshotterClient.ConnectAsync(socket);
        try
        {
            for (int i = 0; i < image.Layers.Count; i++)
            {
                var prepare = new PrepareSnapshotRequest { Snapshotter = "p2pdist", Key = $"default/{i + 1}/extract-{i}", Parent = i == 0 ? "" : image.ChainIds[i - 1] };
                prepare.Labels.Add(SnapshotterClient.RemoteLabels(image, i));
                var refused = await Assert.ThrowsAsync<RpcException>(() => client.Snapshots.PrepareAsync(prepare, SnapshotterClient.Deadline).ResponseAsync);
                Assert.Equal(StatusCode.AlreadyExists, refused.StatusCode);
            }
            // containerd re-checks what it lists: each layer under its chain id, with its parent and the target label.
            var listed = (await client.ListAsync()).ToDictionary(s => s.Name);
            for (int i = 0; i < image.Layers.Count; i++)
            {
                var layer = listed[image.ChainIds[i]];
                Assert.Equal(Kind.Committed, layer.Kind);
                Assert.Equal(i == 0 ? "" : image.ChainIds[i - 1], layer.Parent);
                Assert.Equal(image.ChainIds[i], layer.Labels["containerd.io/snapshot.ref"]);
            }

            string metrics = await peer.MetricsAsync();
            Assert.Contains($"p2pdist_peer_snapshotter_operation_seconds_count{{operation=\"prepare\",result=\"AlreadyExists\"}} {image.Layers.Count}", metrics);
            Assert.Contains($"p2pdist_peer_snapshots{{kind=\"remote\"}} {image.Layers.Count}", metrics);

            string top = image.ChainIds[^1];
            var first = await PrepareContainerAsync(client, "default/10/c1", top);
            var second = await PrepareContainerAsync(client, "default/11/c2", top);
            string imageRoot = Option(first, "lowerdir");
            Assert.Equal(imageRoot, Option(second, "lowerdir"));
            Assert.Equal(1, MountCount.At(imageRoot));

            string rootfs = TestPaths.NewDirectory("rootfs");
            await MountOverlayAsync(first, rootfs);
            try
            {
                var expected = await File.ReadAllBytesAsync(Path.Combine(await source.ReferenceUnpackAsync(), "bin/tool"));
                Assert.Equal(expected, await File.ReadAllBytesAsync(Path.Combine(rootfs, "bin/tool")));
                await File.WriteAllTextAsync(Path.Combine(rootfs, "written-by-container"), "mine");
                Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(Option(first, "upperdir"), "written-by-container")));
                Assert.False(File.Exists(Path.Combine(imageRoot, "written-by-container")));
            }
            finally
            {
                await ProcessRunner.RunCheckedAsync("umount", rootfs);
            }

            // A restart keeps every snapshot, and the image is mounted again before Mounts answers.
            client.Dispose();
            await peer.StopAsync();
            await peer.RestartAsync();
            client = await SnapshotterClient.ConnectAsync(socket);
            var stat = await client.Snapshots.StatAsync(new StatSnapshotRequest { Snapshotter = "p2pdist", Key = "default/10/c1" }, SnapshotterClient.Deadline);
            Assert.Equal(Kind.Active, stat.Info.Kind);
            Assert.Equal(top, stat.Info.Parent);
            var again = await client.Snapshots.MountsAsync(new MountsRequest { Snapshotter = "p2pdist", Key = "default/10/c1" }, SnapshotterClient.Deadline);
            await MountOverlayAsync(again.Mounts[0], rootfs);
            try
            {
                Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(rootfs, "written-by-container")));
                Assert.True(File.Exists(Path.Combine(rootfs, "bin/tool")));
            }
            finally
            {
                await ProcessRunner.RunCheckedAsync("umount", rootfs);
            }

            // containerd's garbage collection: containers first, then layers top down, then Cleanup. Nothing stays mounted.
            var busy = await Assert.ThrowsAsync<RpcException>(() => Remove(client, top));
            Assert.Equal(StatusCode.FailedPrecondition, busy.StatusCode);
            await Remove(client, "default/10/c1");
            Assert.Equal(1, MountCount.At(imageRoot)); // c2 still uses it
            await Remove(client, "default/11/c2");
            Assert.Equal(0, MountCount.At(imageRoot));
            for (int i = image.ChainIds.Count - 1; i >= 0; i--)
                await Remove(client, image.ChainIds[i]);
            await client.Snapshots.CleanupAsync(new CleanupRequest { Snapshotter = "p2pdist" }, SnapshotterClient.Deadline);
            Assert.Empty(await client.ListAsync());
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(peer.DataDir, "snapshots", "dirs")));
        }
        finally
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task PlainLayers_AreOrdinaryOverlaySnapshots_CommittedAndViewed()
    {
        await using var peer = await PeerProcess.StartAsync();
        using var client = await SnapshotterClient.ConnectAsync(Path.Combine(peer.DataDir, "snapshotter.sock"));
        var extract = await client.Snapshots.PrepareAsync(new PrepareSnapshotRequest { Snapshotter = "p2pdist", Key = "extract-a" }, SnapshotterClient.Deadline);
        var bind = Assert.Single(extract.Mounts);
        Assert.Equal("bind", bind.Type);
        await File.WriteAllTextAsync(Path.Combine(bind.Source, "from-layer-a"), "a"); // what containerd's applier does through the mount
        await client.Snapshots.CommitAsync(new CommitSnapshotRequest { Snapshotter = "p2pdist", Key = "extract-a", Name = "layer-a" }, SnapshotterClient.Deadline);

        var view = await client.Snapshots.ViewAsync(new ViewSnapshotRequest { Snapshotter = "p2pdist", Key = "view-a", Parent = "layer-a" }, SnapshotterClient.Deadline);
        Assert.Equal(["ro", "rbind"], view.Mounts[0].Options);
        Assert.Equal("a", await File.ReadAllTextAsync(Path.Combine(view.Mounts[0].Source, "from-layer-a")));
        var container = await PrepareContainerAsync(client, "c-plain", "layer-a");
        Assert.Equal(bind.Source, Option(container, "lowerdir"));
        var usage = await client.Snapshots.UsageAsync(new UsageRequest { Snapshotter = "p2pdist", Key = "layer-a" }, SnapshotterClient.Deadline);
        Assert.Equal(1, usage.Size);

        var exists = await Assert.ThrowsAsync<RpcException>(() => client.Snapshots.CommitAsync(
            new CommitSnapshotRequest { Snapshotter = "p2pdist", Key = "c-plain", Name = "layer-a" }, SnapshotterClient.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, exists.StatusCode);
        var update = new UpdateSnapshotRequest { Snapshotter = "p2pdist", Info = new Info { Name = "layer-a", Labels = { ["containerd.io/gc.root"] = "x" } } };
        update.UpdateMask = new Google.Protobuf.WellKnownTypes.FieldMask { Paths = { "labels.containerd.io/gc.root" } };
        Assert.Equal("x", (await client.Snapshots.UpdateAsync(update, SnapshotterClient.Deadline)).Info.Labels["containerd.io/gc.root"]);
    }

    [Theory]
    [InlineData("bad\nkey", "", "InvalidArgument", "control characters")]
    [InlineData("k1", "no-such-parent", "NotFound", "parent snapshot no-such-parent does not exist")]
    [InlineData("k2", "", "InvalidArgument", "cri.image-ref")]
    [InlineData("k3", "", "InvalidArgument", "over 4096 bytes")]
    public async Task BadRequests_AreRefused_NamingWhatIsWrong(string key, string parent, string code, string message)
    {
        await using var peer = await PeerProcess.StartAsync();
        using var client = await SnapshotterClient.ConnectAsync(Path.Combine(peer.DataDir, "snapshotter.sock"));
        var request = new PrepareSnapshotRequest { Snapshotter = "p2pdist", Key = key, Parent = parent };
        if (key == "k2")
        {
            // A local layout as the image: the snapshotter must never read a path a label names.
            request.Labels.Add(new Dictionary<string, string>
            {
                ["containerd.io/snapshot.ref"] = "sha256:" + new string('1', 64),
                ["containerd.io/snapshot/cri.image-ref"] = "oci:/etc",
                ["containerd.io/snapshot/cri.manifest-digest"] = "sha256:" + new string('2', 64),
                ["containerd.io/snapshot/cri.layer-digest"] = "sha256:" + new string('3', 64),
            });
        }
        if (key == "k3")
            request.Labels["huge"] = new string('x', 5000);
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.Snapshots.PrepareAsync(request, SnapshotterClient.Deadline).ResponseAsync);
        Assert.Equal(code, refused.StatusCode.ToString());
        Assert.Contains(message, refused.Status.Detail);
        Assert.Empty(await client.ListAsync());
    }

    [Fact]
    public async Task ALayerWhoseRegistryIsDown_FailsPrepareAtOnce_NamingTheLayer_InTheAnswerAndTheLog()
    {
        await using var peer = await PeerProcess.StartAsync();
        using var client = await SnapshotterClient.ConnectAsync(Path.Combine(peer.DataDir, "snapshotter.sock"));
        string layer = "sha256:" + new string('3', 64);
        var request = new PrepareSnapshotRequest { Snapshotter = "p2pdist", Key = "extract-1" };
        request.Labels.Add(new Dictionary<string, string>
        {
            ["containerd.io/snapshot.ref"] = "sha256:" + new string('1', 64),
            ["containerd.io/snapshot/cri.image-ref"] = $"127.0.0.1:{FreePort.Next()}/gone:v1", // nothing listens there
            ["containerd.io/snapshot/cri.manifest-digest"] = "sha256:" + new string('2', 64),
            ["containerd.io/snapshot/cri.layer-digest"] = layer,
            ["containerd.io/snapshot/p2pdist.plain-http"] = "true",
        });
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.Snapshots.PrepareAsync(request, SnapshotterClient.Deadline).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains(layer, refused.Status.Detail);
        await peer.WaitForLogAsync("cannot decide layer " + layer);
        Assert.Empty(await client.ListAsync());
    }

    private static async Task<P2PDist.Protos.Containerd.Types.Mount> PrepareContainerAsync(SnapshotterClient client, string key, string parent)
    {
        var response = await client.Snapshots.PrepareAsync(new PrepareSnapshotRequest { Snapshotter = "p2pdist", Key = key, Parent = parent }, SnapshotterClient.Deadline);
        var mount = Assert.Single(response.Mounts);
        Assert.Equal("overlay", mount.Type);
        return mount;
    }

    private static Task Remove(SnapshotterClient client, string key) =>
        client.Snapshots.RemoveAsync(new RemoveSnapshotRequest { Snapshotter = "p2pdist", Key = key }, SnapshotterClient.Deadline).ResponseAsync;

    private static string Option(P2PDist.Protos.Containerd.Types.Mount mount, string name) =>
        mount.Options.Single(o => o.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];


    private static Task MountOverlayAsync(P2PDist.Protos.Containerd.Types.Mount mount, string target) =>
        ProcessRunner.RunCheckedAsync("mount", "-t", mount.Type, mount.Source, "-o", string.Join(',', mount.Options), target);
}
