using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>The cache quota: least recently used chunks go first, chunks of open files stay, contents survive a restart.</summary>
public sealed class PeerCacheQuotaTests
{
    [Fact]
    public async Task OverQuota_EvictsLeastRecentlyUsed_ButNotChunksOfOpenFiles()
    {
        await using var server = await RegistryServer.StartAsync();
        var files = Enumerable.Range(0, 5).Select(i => SampleImages.Bytes(1 << 20, 100 + i)).ToArray();
        string source = await new TestImage().Layer(w =>
        {
            for (int i = 0; i < files.Length; i++)
                w.File($"f{i}", files[i]);
        }).PushAsync(server.Host, "quota", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/quota:rafs", "--plain-http");
        string ChunkFile(string dataDir, int i)
        {
            string hex = Convert.ToHexStringLower(ChunkDigest.Compute(DigestAlgorithm.Blake3, files[i]).Bytes);
            return Path.Combine(dataDir, "cache", "chunks", hex[..2], "blake3-" + hex);
        }

        await using var peer = await PeerProcess.StartAsync(null, "--cache-quota", "3M");
        string mountPoint = await peer.MountAsync($"{server.Host}/quota:rafs", "--timeout", "2");
        await using (var pinned = File.OpenRead(Path.Combine(mountPoint, "f0")))
        {
            var first = new byte[files[0].Length];
            await pinned.ReadExactlyAsync(first);
            Assert.Equal(files[0], first);
            for (int i = 1; i < files.Length; i++)
                Assert.Equal(files[i], await File.ReadAllBytesAsync(Path.Combine(mountPoint, $"f{i}")));
            Assert.True(File.Exists(ChunkFile(peer.DataDir, 0)), "the open file's chunk was evicted");
        }
        Assert.False(File.Exists(ChunkFile(peer.DataDir, 1)), "the least recently used chunk of a closed file should be gone");
        long cached = Directory.EnumerateFiles(Path.Combine(peer.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(cached <= 3 << 20, $"cache holds {cached} bytes, over the 3 MiB quota");

        // The cache outlives the daemon: a clean stop and a restart keep every chunk (the staging area is what is swept).
        await peer.StopAsync();
        await peer.RestartAsync();
        Assert.True(File.Exists(ChunkFile(peer.DataDir, 0)));
        Assert.True(File.Exists(ChunkFile(peer.DataDir, 4)));
    }
}
