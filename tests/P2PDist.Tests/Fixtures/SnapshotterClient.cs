using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using P2PDist.Oci;
using P2PDist.Protos;
using P2PDist.Protos.Containerd.Snapshots;

namespace P2PDist.Tests.Fixtures;

/// <summary>Talks to a peer's snapshotter socket the way containerd does, and knows a Rafs image's layers and chain ids.</summary>
public sealed class SnapshotterClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public SnapshotterClient(string socketPath)
    {
        _channel = UnixSocketChannel.For(socketPath, TimeSpan.FromSeconds(10));
        Snapshots = new Snapshots.SnapshotsClient(_channel);
    }

    public Snapshots.SnapshotsClient Snapshots { get; }

    /// <summary>Connects once the daemon serves the snapshotter (it starts after the daemon has restored its mounts).</summary>
    public static async Task<SnapshotterClient> ConnectAsync(string socketPath)
    {
        var client = new SnapshotterClient(socketPath);
        await Eventually.Async(async () =>
        {
            try
            {
                await client.ListAsync();
                return true;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), $"the snapshotter to answer on {socketPath}");
        return client;
    }

    public static CallOptions Deadline => new(deadline: DateTime.UtcNow.AddMinutes(2));

    public async Task<List<Info>> ListAsync()
    {
        using var call = Snapshots.List(new ListSnapshotsRequest { Snapshotter = "p2pdist" }, Deadline);
        var all = new List<Info>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            all.AddRange(call.ResponseStream.Current.Info);
        return all;
    }

    public void Dispose() => _channel.Dispose();

    /// <summary>A converted image as containerd sees it: manifest digest, layer digests, and the chain ids of the config's diff ids.</summary>
    public sealed record RafsLayers(string Reference, string ManifestDigest, List<string> Layers, List<string> ChainIds, long LayerBytes);

    public static async Task<RafsLayers> ResolveAsync(string reference)
    {
        using var store = ImageStores.Open(ImageReference.Parse(reference), new RegistryOptions { PlainHttp = true });
        var image = await ManifestResolver.ResolveAsync(store, "linux/amd64", CancellationToken.None);
        await using var configStream = await store.OpenBlobAsync(image.Manifest.Config, CancellationToken.None);
        using var config = await JsonDocument.ParseAsync(configStream);
        var diffIds = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToList();
        var chain = P2PDist.Cli.Containerd.ChainIds.Of(diffIds);
        return new RafsLayers(reference, image.Raw.Digest, image.Manifest.Layers.Select(l => l.Digest).ToList(), chain, image.Manifest.Layers.Sum(l => l.Size));
    }

    /// <summary>What containerd's unpack (or CRI) sends for layer <paramref name="index"/> of a lazily pulled image.</summary>
    public static Dictionary<string, string> RemoteLabels(RafsLayers image, int index) => new()
    {
        ["containerd.io/snapshot.ref"] = image.ChainIds[index],
        ["containerd.io/snapshot/cri.image-ref"] = image.Reference,
        ["containerd.io/snapshot/cri.manifest-digest"] = image.ManifestDigest,
        ["containerd.io/snapshot/cri.layer-digest"] = image.Layers[index],
        ["containerd.io/snapshot/p2pdist.plain-http"] = "true",
    };
}
