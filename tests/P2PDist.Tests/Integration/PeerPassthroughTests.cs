using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>FUSE passthrough: once a file is wholly cached, opens hand the kernel a backing file and reads skip the daemon.</summary>
[Collection(RegistryCollection.Name)]
public sealed class PeerPassthroughTests(RegistryFixture registry)
{
    [Fact]
    public async Task FullyCachedFile_IsReadThroughPassthrough_WithoutReadsReachingTheDaemon()
    {
        byte[] content = SampleImages.Text(3 << 20, 111);
        string source = await new TestImage().Layer(w => { w.File("data.txt", content); w.File("exec.sh", "#!/bin/sh\necho passthrough-ok\n"u8.ToArray(), mode: 0x1ED); })
            .PushAsync(registry.Host, "passthrough", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/passthrough:rafs", "--plain-http");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync($"{registry.Host}/passthrough:rafs");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.txt"))); // fills the cache
        var (readBefore, passthroughBefore) = await CountersAsync(peer);
        await ProcessRunner.RunCheckedAsync("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"); // force real reads
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.txt")));
        var (readAfter, passthroughAfter) = await CountersAsync(peer);
        Assert.True(passthroughAfter > passthroughBefore, "the second open should use passthrough");
        Assert.Equal(readBefore, readAfter); // no READ reached the daemon

        // Executing through passthrough works too (the kernel maps the backing file).
        var first = await ProcessRunner.RunCheckedAsync(Path.Combine(mountPoint, "exec.sh"));
        var second = await ProcessRunner.RunCheckedAsync(Path.Combine(mountPoint, "exec.sh"));
        Assert.Equal("passthrough-ok\n", first.Stdout);
        Assert.Equal("passthrough-ok\n", second.Stdout);
    }

    private async Task<(long BytesRead, long PassthroughOpens)> CountersAsync(PeerProcess peer)
    {
        var info = await peer.MountInfoAsync($"{registry.Host}/passthrough:rafs");
        return (info.BytesRead, info.PassthroughOpens);
    }
}
