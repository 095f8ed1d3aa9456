using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>The containerd of the tests runs containers here (runc, overlayfs), before any P2PDist part is involved.</summary>
[Collection(RegistryCollection.Name)]
public sealed class ContainerdServerTests(RegistryFixture registry)
{
    [Fact]
    public async Task PlainDebianImage_PulledByCtr_RunsWithRunc()
    {
        string image = await DebianImage.PushAsync(registry.Host, "ctr-plain", "bookworm");
        await using var containerd = await ContainerdServer.StartAsync();
        await containerd.CtrOkAsync("image", "pull", "--plain-http", image);
        var run = await containerd.CtrOkAsync("run", "--rm", image, "c1", "/bin/sh", "-c", "echo hello from $(cat /etc/debian_version)");
        Assert.StartsWith("hello from 12", run.Stdout);
    }
}
