using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>A cache disk that fills up: reads go on from memory, the condition is logged once.</summary>
public sealed class PeerFullCacheTests
{
    [Fact]
    public async Task FullCacheDisk_ReadsKeepWorking_AndItIsLoggedOnce()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(8 << 20, 91);
        string source = await new TestImage().Layer(w => w.File("data.bin", content)).PushAsync(server.Host, "fullcache", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/fullcache:rafs", "--plain-http");

        string small = TestPaths.NewDirectory("small-disk");
        await ProcessRunner.RunCheckedAsync("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", small);
        try
        {
            await using (var peer = await PeerProcess.StartAsync(Path.Combine(small, "data")))
            {
                string mountPoint = await peer.MountAsync($"{server.Host}/fullcache:rafs");
                Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
                Assert.True(await peer.LogContainsAsync("cannot store chunks"), "the full disk should be logged");
                string log = await File.ReadAllTextAsync(peer.LogPath);
                Assert.Single(System.Text.RegularExpressions.Regex.Matches(log, "cannot store chunks")); // once, not per chunk
            }
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", ["-l", small]);
        }
    }
}
