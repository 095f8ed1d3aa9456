using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>The containerd of the tests runs containers here (runc, overlayfs), before any P2PDist part is involved.</summary>
[Collection(RegistryCollection.Name)]
public sealed class ContainerdServerTests(RegistryFixture registry)
{
    [Fact]
    public async Task PlainDebianImage_PulledByCtr_RunsWithRunc()
    {
        string tarball = Environment.GetEnvironmentVariable("P2PDIST_DEBIAN_ROOTFS") ?? "";
        Assert.True(File.Exists(tarball), "P2PDIST_DEBIAN_ROOTFS must name the Debian minbase tarball (tests/run-all.sh builds it)");
        string image = await new TestImage().RawLayer(await File.ReadAllBytesAsync(tarball), LayerCompression.Gzip).PushAsync(registry.Host, "ctr-plain", "bookworm");
        await using var containerd = await ContainerdServer.StartAsync();
        await containerd.CtrOkAsync("image", "pull", "--plain-http", image);
        var run = await containerd.CtrOkAsync("run", "--rm", image, "c1", "/bin/sh", "-c", "echo hello from $(cat /etc/debian_version)");
        Assert.StartsWith("hello from 12", run.Stdout);
    }
}
