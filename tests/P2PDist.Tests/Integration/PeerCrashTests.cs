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
            // Killed once the prefetch has cached something (and, at 80 Mbit/s for 48 MiB, long before it has cached everything).
            await Eventually.Async(() => Task.FromResult(CachedChunks(peer.DataDir).Count), count => count >= 1, TimeSpan.FromSeconds(60),
                "the prefetch to cache a first chunk", count => $"{count} chunks cached");
            peer.Kill();
            int cachedAtKill = CachedChunks(peer.DataDir).Count;
            Assert.InRange(cachedAtKill, 1, 47); // the kill came mid-way: some chunks cached, not all

            await peer.RestartAsync();
            foreach (var (path, digest) in CachedChunks(peer.DataDir))
                Assert.Equal(digest, Convert.ToHexStringLower(ChunkDigest.Compute(DigestAlgorithm.Blake3, await File.ReadAllBytesAsync(path)).Bytes));
            await Eventually.Async(() => Task.FromResult(File.Exists(Path.Combine(mountPoint, "data.bin"))), TimeSpan.FromSeconds(30),
                $"the restarted daemon to remount {mountPoint}", () => "not mounted yet");
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
        }
    }

    /// <summary>Cached chunk files and the digest their name claims.</summary>
    private static List<(string Path, string Digest)> CachedChunks(string dataDir)
    {
        string folder = Path.Combine(dataDir, "cache", "chunks");
        return !Directory.Exists(folder) ? [] : Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(p => (p, Path.GetFileName(p).Split('-')[1]))
            .ToList();
    }
}
