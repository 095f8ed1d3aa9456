using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>kill -9 in the middle of fetching: after a restart the cache holds only whole, correct chunks.</summary>
[Collection(LoopbackShapingCollection.Name)]
public sealed class PeerCrashTests
{
    [Fact]
    public async Task KilledMidFetch_CacheServesNoDamagedChunk()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(48 << 20, 81);
        string source = await new TestImage().Layer(w => w.File("data.bin", content)).PushAsync(server.Host, "crash", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/crash:rafs", "--plain-http");

        // Slow the registry's egress (tc on loopback, this registry's port only) so the kill lands mid-transfer.
        await using (await LoopbackShaping.LimitAsync(server.Port, "80mbit"))
        {
            await using var peer = await PeerProcess.StartAsync(null, "--prefetch-all");
            string mountPoint = await peer.MountAsync($"{server.Host}/crash:rafs");
            await Task.Delay(1500);
            peer.Kill();
            int cachedAtKill = CachedChunks(peer.DataDir).Count;
            Assert.InRange(cachedAtKill, 1, 47); // the kill came mid-way: some chunks cached, not all

            await peer.RestartAsync();
            foreach (var (path, digest) in CachedChunks(peer.DataDir))
                Assert.Equal(digest, Convert.ToHexStringLower(ChunkDigest.Compute(DigestAlgorithm.Blake3, await File.ReadAllBytesAsync(path)).Bytes));
            for (int i = 0; i < 300 && !File.Exists(Path.Combine(mountPoint, "data.bin")); i++)
                await Task.Delay(100);
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
        }
    }

    /// <summary>Cached chunk files and the digest their name claims.</summary>
    private static List<(string Path, string Digest)> CachedChunks(string dataDir) =>
        Directory.EnumerateFiles(Path.Combine(dataDir, "cache", "chunks"), "*", SearchOption.AllDirectories)
            .Select(p => (p, Path.GetFileName(p).Split('-')[1]))
            .ToList();
}
