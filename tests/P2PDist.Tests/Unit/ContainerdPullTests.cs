using System.Security.Cryptography;
using System.Text;
using P2PDist.Cli.Containerd;

namespace P2PDist.Tests.Unit;

/// <summary>What `p2pdist image pull` computes before it talks to containerd: chain ids, layer labels, and the config's diff ids.</summary>
public sealed class ContainerdPullTests
{
    private static readonly string[] Diffs = ["sha256:" + new string('a', 64), "sha256:" + new string('b', 64), "sha256:" + new string('c', 64)];

    [Fact]
    public void ChainIds_FollowTheImageSpec()
    {
        string second = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(Diffs[0] + " " + Diffs[1])));
        string third = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(second + " " + Diffs[2])));
        Assert.Equal([Diffs[0], second, third], ChainIds.Of(Diffs));
    }

    [Fact]
    public void LayerLabels_AreWhatCriSends_AndTheLayerListKeepsWholeDigestsWithinALabel()
    {
        var labels = LayerLabels.For("r.example/app:v1", "sha256:" + new string('d', 64), Diffs, 1, "sha256:" + new string('e', 64), plainHttp: true);
        Assert.Equal("sha256:" + new string('e', 64), labels["containerd.io/snapshot.ref"]);
        Assert.Equal(Diffs[1], labels["containerd.io/snapshot/cri.layer-digest"]);
        Assert.Equal($"{Diffs[1]},{Diffs[2]}", labels["containerd.io/snapshot/cri.image-layers"]);
        Assert.Equal("true", labels["containerd.io/snapshot/p2pdist.plain-http"]);

        var many = Enumerable.Range(0, 100).Select(i => "sha256:" + i.ToString("x64")).ToList();
        string list = LayerLabels.For("r.example/app:v1", many[0], many, 0, many[0], plainHttp: false)["containerd.io/snapshot/cri.image-layers"];
        Assert.True(list.Length + "containerd.io/snapshot/cri.image-layers".Length <= 4096);
        Assert.All(list.Split(','), digest => Assert.Contains(digest, many));
    }

    [Theory]
    [InlineData("{\"rootfs\":{\"type\":\"layers\"}}", "no valid rootfs.diff_ids")]
    [InlineData("{\"rootfs\":{\"diff_ids\":[\"md5:00\"]}}", "md5:00")]
    [InlineData("not json", "no valid rootfs.diff_ids")]
    public void AConfigWithoutUsableDiffIds_IsRefused(string config, string message)
    {
        var refused = Assert.ThrowsAny<Exception>(() => LazyPull.DiffIds(Encoding.UTF8.GetBytes(config), "r.example/app:v1"));
        Assert.Contains(message, refused.Message);
        Assert.Contains("r.example/app:v1", refused.Message);
    }

    [Fact]
    public void TheContainerdSnippet_NamesTheSocket_AndEnablesCriAnnotations()
    {
        string snippet = ContainerdCommands.Snippet("/run/p2pdist/snapshotter.sock");
        Assert.Contains("[proxy_plugins.p2pdist]", snippet);
        Assert.Contains("address = \"/run/p2pdist/snapshotter.sock\"", snippet);
        Assert.Contains("disable_snapshot_annotations = false", snippet);
    }
}
