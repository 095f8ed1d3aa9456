using System.Security.Cryptography;
using System.Text;
using P2PDist.Cli.Containerd;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

/// <summary>What `p2pdist image pull` works out before it talks to containerd: chain ids, layer labels, and whether the image is one it can pull lazily.</summary>
public sealed class ContainerdPullTests
{
    private const string Ref = "r.example/app:v1";
    private const string ImageLayersLabel = "containerd.io/snapshot/cri.image-layers";

    private static readonly string[] Digests = [Digest('a'), Digest('b'), Digest('c')];

    [Fact]
    public void ChainIds_FollowTheImageSpec()
    {
        string second = Sha256Text(Digests[0] + " " + Digests[1]);
        string third = Sha256Text(second + " " + Digests[2]);
        Assert.Equal([Digests[0], second, third], ChainIds.Of(Digests));
    }

    [Fact]
    public void ChainIds_MatchAKnownVector()
    {
        // sha256 of "sha256:a{64} sha256:b{64}", worked out apart from .NET with sha256sum.
        Assert.Equal("sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c", ChainIds.Of(Digests[..2])[1]);
    }

    [Fact]
    public void LayerLabels_ForAThreeLayerImage_AreWhatCriSends()
    {
        var chain = ChainIds.Of(Digests);
        string manifest = Digest('d');
        for (int i = 0; i < 3; i++)
        {
            var labels = LayerLabels.For(Ref, manifest, Digests, i, chain[i], plainHttp: false);
            Assert.Equal(chain[i], labels["containerd.io/snapshot.ref"]);
            Assert.Equal(Ref, labels["containerd.io/snapshot/cri.image-ref"]);
            Assert.Equal(manifest, labels["containerd.io/snapshot/cri.manifest-digest"]);
            Assert.Equal(Digests[i], labels["containerd.io/snapshot/cri.layer-digest"]);
            Assert.Equal(string.Join(',', Digests[i..]), labels[ImageLayersLabel]);
            Assert.False(labels.ContainsKey("containerd.io/snapshot/p2pdist.plain-http"));
        }
        Assert.Equal("true", LayerLabels.For(Ref, manifest, Digests, 0, chain[0], plainHttp: true)["containerd.io/snapshot/p2pdist.plain-http"]);
    }

    [Fact]
    public void TheLayerList_KeepsWholeDigests_WithinContainerdsLabelLimit()
    {
        var many = Enumerable.Range(0, 100).Select(i => "sha256:" + i.ToString("x64")).ToList();
        string list = LayerLabels.For(Ref, many[0], many, 0, many[0], plainHttp: false)[ImageLayersLabel];
        Assert.True(ImageLayersLabel.Length + list.Length <= 4096);
        // As many as fit in 4096 bytes with the key (39): 71 a digest, 1 a comma between two.
        int fit = (4096 - ImageLayersLabel.Length + 1) / (many[0].Length + 1);
        Assert.Equal(many.Take(fit), list.Split(','));
    }

    [Fact]
    public void APlainOciImage_IsRefused_PointingAtCtr()
    {
        var manifest = Manifest(MediaTypes.OciLayerGzip, MediaTypes.OciLayerGzip);
        var refused = Assert.Throws<P2PDistException>(() => RafsPullPlan.From(manifest, Config(2), Ref, "p2pdist"));
        Assert.Contains($"{Ref} is not a Rafs image", refused.Message);
        Assert.Contains(MediaTypes.OciLayerGzip, refused.Message);
        Assert.Contains("ctr image pull --snapshotter p2pdist", refused.Message);
    }

    [Fact]
    public void ARafsManifestOutOfOrder_IsRefused_NamingTheLayer()
    {
        var manifest = Manifest(MediaTypes.RafsBootstrap, MediaTypes.RafsBlob);
        var refused = Assert.Throws<P2PDistException>(() => RafsPullPlan.From(manifest, Config(2), Ref, "p2pdist"));
        Assert.Contains("layer 1 of 2", refused.Message);
        Assert.Contains(MediaTypes.RafsBlob, refused.Message);
    }

    [Fact]
    public void ARafsImage_GivesItsLayersAndChainIds()
    {
        var plan = RafsPullPlan.From(Manifest(MediaTypes.RafsBlob, MediaTypes.RafsBlob, MediaTypes.RafsBootstrap), Config(3), Ref, "p2pdist");
        Assert.Equal(Digests, plan.LayerDigests);
        Assert.Equal(ChainIds.Of(Digests), plan.ChainIds);
    }

    [Fact]
    public void DiffIdsThatDoNotMatchTheLayers_AreRefused_NamingTheCounts()
    {
        var refused = Assert.Throws<P2PDistException>(() => RafsPullPlan.From(Manifest(MediaTypes.RafsBlob, MediaTypes.RafsBootstrap), Config(3), Ref, "p2pdist"));
        Assert.Contains("3 rootfs.diff_ids for 2 layers", refused.Message);
    }

    [Theory]
    [InlineData("{\"rootfs\":{\"type\":\"layers\"}}", "no valid rootfs.diff_ids")]
    [InlineData("{\"rootfs\":{\"diff_ids\":[\"md5:00\"]}}", "rootfs.diff_ids[0] 'md5:00'")]
    [InlineData("not json", "no valid rootfs.diff_ids")]
    public void AConfigWithoutUsableDiffIds_IsRefused(string config, string message)
    {
        var refused = Assert.Throws<P2PDistException>(() => RafsPullPlan.DiffIdsOf(Encoding.UTF8.GetBytes(config), Ref));
        Assert.Contains(message, refused.Message);
        Assert.Contains(Ref, refused.Message);
    }

    [Fact]
    public void TheContainerdSnippet_NamesTheSocket_AndEnablesCriAnnotations()
    {
        string snippet = ContainerdCommands.Snippet("/run/p2pdist/snapshotter.sock");
        Assert.Contains("[proxy_plugins.p2pdist]\n  type = \"snapshot\"\n  address = \"/run/p2pdist/snapshotter.sock\"\n", snippet);
        Assert.Contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"p2pdist\"\n  disable_snapshot_annotations = false\n", snippet);
    }

    private static string Digest(char fill) => "sha256:" + new string(fill, 64);

    private static string Sha256Text(string text) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(text)));

    private static ImageManifest Manifest(params string[] layerTypes) => new()
    {
        MediaType = MediaTypes.OciManifest,
        Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = Digest('f'), Size = 2 },
        Layers = layerTypes.Select((type, i) => new Descriptor { MediaType = type, Digest = Digests[i], Size = 1 }).ToList(),
    };

    // The converter writes each Rafs layer's digest as its diff id.
    private static byte[] Config(int diffIds) =>
        Encoding.UTF8.GetBytes("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + string.Join(',', Digests.Take(diffIds).Select(d => $"\"{d}\"")) + "]}}");
}
