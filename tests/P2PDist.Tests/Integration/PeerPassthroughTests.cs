using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// FUSE passthrough: once a file of 1 MiB or more is wholly cached, an open asks for a copy in the background,
/// and the opens after it hand the kernel that backing file, so reads skip the daemon.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class PeerPassthroughTests(RegistryFixture registry)
{
    [Fact]
    public async Task FullyCachedFile_IsReadThroughPassthrough_WithoutReadsReachingTheDaemon()
    {
        byte[] content = SampleImages.Text(3 << 20, 111);
        string source = await new TestImage().Layer(w => { w.File("data.txt", content); w.File("exec.sh", Script(), mode: 0x1ED); })
            .PushAsync(registry.Host, "passthrough", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/passthrough:rafs", "--plain-http");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync($"{registry.Host}/passthrough:rafs");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.txt"))); // fills the cache
        // The open after that asks for the copy and is served through FUSE meanwhile; a later one gets the copy.
        await Eventually.Async(async () =>
        {
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.txt")));
            return (await CountersAsync(peer)).PassthroughOpens > 0;
        }, TimeSpan.FromSeconds(30), "an open of data.txt through its passthrough copy");
        var (readBefore, _) = await CountersAsync(peer);
        await ProcessRunner.RunCheckedAsync("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"); // force real reads
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.txt")));
        var (readAfter, _) = await CountersAsync(peer);
        Assert.Equal(readBefore, readAfter); // no READ reached the daemon: the kernel read the backing file

        // Executing through passthrough works too (the kernel maps the backing file). The shell stops reading at
        // "exit 0", so the whole script is read once first to have every chunk cached.
        Assert.Equal(Script(), await File.ReadAllBytesAsync(Path.Combine(mountPoint, "exec.sh")));
        long opensBefore = (await CountersAsync(peer)).PassthroughOpens;
        var first = await ProcessRunner.RunCheckedAsync(Path.Combine(mountPoint, "exec.sh"));
        Assert.Equal("passthrough-ok\n", first.Stdout);
        await Eventually.Async(async () =>
        {
            Assert.Equal("passthrough-ok\n", (await ProcessRunner.RunCheckedAsync(Path.Combine(mountPoint, "exec.sh"))).Stdout);
            return (await CountersAsync(peer)).PassthroughOpens > opensBefore;
        }, TimeSpan.FromSeconds(30), "exec.sh run through its passthrough copy");
    }

    /// <summary>A script over 1 MiB (a comment pads it): big enough to get a passthrough copy.</summary>
    private static byte[] Script() =>
        System.Text.Encoding.ASCII.GetBytes("#!/bin/sh\necho passthrough-ok\nexit 0\n" + new string('#', 1 << 20) + "\n");

    private async Task<(long BytesRead, long PassthroughOpens)> CountersAsync(PeerProcess peer)
    {
        var info = await peer.MountInfoAsync($"{registry.Host}/passthrough:rafs");
        return (info.BytesRead, info.PassthroughOpens);
    }
}
