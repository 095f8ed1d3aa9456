using System.Diagnostics;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Failures never poison the node, with the real daemon, FUSE and registry: unmount in the middle of a read
/// storm (review H5), a damaged cache at rest (M1), and passthrough copies under the quota (M5).
/// </summary>
public sealed class PeerSafetyTests
{
    private const int ChunkBytes = 1 << 20;

    private static string ChunkFile(string dataDir, ReadOnlySpan<byte> chunk)
    {
        string hex = Convert.ToHexStringLower(ChunkDigest.Compute(DigestAlgorithm.Blake3, chunk).Bytes);
        return Path.Combine(dataDir, "cache", "chunks", hex[..2], "blake3-" + hex);
    }

    private static async Task<string> DataBlobAsync(string target)
    {
        var inspect = await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http");
        return inspect.Stdout.Split('\n').First(l => l.TrimStart().StartsWith("sha256:", StringComparison.Ordinal)).Trim().Split(' ')[0];
    }

    [Fact]
    public async Task M8_ReadsBlockedOnASlowOrigin_DoNotStallLookupsOrCachedReads()
    {
        await using var server = await RegistryServer.StartAsync();
        var files = Enumerable.Range(0, 8).Select(i => SampleImages.Bytes(2 * ChunkBytes, 320 + i)).ToArray();
        string target = await new TestImage().Layer(w =>
        {
            for (int i = 0; i < files.Length; i++)
                w.File($"slow/f{i}", files[i]);
            w.File("etc/hostname", "node\n"u8.ToArray());
        }).PushAndConvertAsync(server.Host, "head-of-line");
        using var slowOrigin = new GatedBlobProxy(server.Host, await DataBlobAsync(target));
        await using var peer = await PeerProcess.StartAsync(null, "--read-timeout", "120", "--merge-size", "0"); // 4 FUSE workers by default
        string mount = await peer.MountAsync(target.Replace(server.Host, slowOrigin.Host, StringComparison.Ordinal));
        // Twice as many readers as workers, each stuck on an origin fetch that the gate holds.
        var readers = files.Select((_, i) => ProcessRunner.RunAsync("cat", [Path.Combine(mount, "slow", $"f{i}")], TimeSpan.FromSeconds(100))).ToList();
        // Every reader reaches the origin only if a blocked worker never keeps the next request waiting.
        await slowOrigin.WaitForHeldAsync(files.Length, TimeSpan.FromSeconds(30));

        var clock = Stopwatch.StartNew();
        var stat = await ProcessRunner.RunAsync("stat", ["-c", "%s", Path.Combine(mount, "etc", "hostname")], TimeSpan.FromSeconds(20));
        var list = await ProcessRunner.RunAsync("ls", [Path.Combine(mount, "slow")], TimeSpan.FromSeconds(20));
        var elapsed = clock.Elapsed;
        Assert.Equal("5", stat.Stdout.Trim());
        Assert.Equal(files.Length, list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"stat and ls behind {files.Length} blocked reads took {elapsed.TotalSeconds:0.0} s");
        Assert.All(readers, r => Assert.False(r.IsCompleted, "a reader finished while its origin was held"));

        slowOrigin.Open();
        for (int i = 0; i < files.Length; i++)
        {
            var read = await readers[i];
            Assert.True(read.ExitCode == 0, read.Output);
            Assert.Equal(files[i], await File.ReadAllBytesAsync(Path.Combine(mount, "slow", $"f{i}")));
        }
    }

    [Fact]
    public async Task H5_UnmountDuringAReadStorm_DaemonStaysUp_OtherMountsRead_NoClosedFdIsUsed()
    {
        await using var server = await RegistryServer.StartAsync();
        var files = Enumerable.Range(0, 4).Select(i => SampleImages.Bytes(2 * ChunkBytes, 300 + i)).ToArray();
        byte[] other = SampleImages.Bytes(3 * ChunkBytes, 310);
        string a = await new TestImage().Layer(w => { for (int i = 0; i < files.Length; i++) w.File($"f{i}", files[i]); }).PushAndConvertAsync(server.Host, "storm");
        string b = await new TestImage().Layer(w => w.File("other.bin", other)).PushAndConvertAsync(server.Host, "bystander");
        using var slowOrigin = new GatedBlobProxy(server.Host, await DataBlobAsync(a));
        string throughProxy = a.Replace(server.Host, slowOrigin.Host, StringComparison.Ordinal);

        // A long read deadline: the readers must end because the mount closed, not because they timed out.
        await using var peer = await PeerProcess.StartAsync(null, "--read-timeout", "120");
        string mountA = await peer.MountAsync(throughProxy);
        string mountB = await peer.MountAsync(b);
        var readers = files.Select((_, i) => ProcessRunner.RunAsync("cat", [Path.Combine(mountA, $"f{i}")], TimeSpan.FromSeconds(100))).ToList();
        await slowOrigin.WaitForHeldAsync(files.Length, TimeSpan.FromSeconds(30)); // every reader is waiting on an origin fetch

        var umount = await peer.CliAsync("umount", mountA);
        Assert.True(umount.ExitCode == 0, umount.Output);
        var clock = Stopwatch.StartNew();
        foreach (var reader in readers)
            Assert.NotEqual(0, (await reader).ExitCode); // EIO or ENOTCONN: the image is gone
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"readers took {clock.Elapsed} to end after the unmount");
        slowOrigin.Open(); // the held responses now arrive at fetches that were cancelled

        Assert.True(await P2PDist.Peer.Daemon.PeerApiClient.IsAliveAsync(Path.Combine(peer.DataDir, "peer.sock")), "the daemon should be alive");
        Assert.True(await peer.LogContainsAsync($"released {mountA}"), "the mount's resources should be released once its workers and fetches ended");
        Assert.Equal(other, await File.ReadAllBytesAsync(Path.Combine(mountB, "other.bin")));
        string again = await peer.MountAsync(throughProxy);
        for (int i = 0; i < files.Length; i++)
            Assert.Equal(files[i], await File.ReadAllBytesAsync(Path.Combine(again, $"f{i}")));
        string log = await File.ReadAllTextAsync(peer.LogPath);
        Assert.DoesNotContain("Bad file descriptor", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Fatal error", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task M1_CorruptAndTruncatedCachedChunks_AreReplacedAfterARestart_AndTheFileReadsCorrectly()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(4 * ChunkBytes, 320);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "rot");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
        string rotten = ChunkFile(peer.DataDir, content.AsSpan(0, ChunkBytes)), truncated = ChunkFile(peer.DataDir, content.AsSpan(ChunkBytes, ChunkBytes));
        Assert.True(File.Exists(rotten) && File.Exists(truncated), "the chunks should be cached");

        await peer.StopAsync();
        File.WriteAllBytes(rotten, SampleImages.Bytes(ChunkBytes, 4321)); // same length, other bytes
        File.WriteAllBytes(truncated, []);
        await peer.RestartAsync();
        await Eventually.Async(async () => (await peer.CliAsync("mounts")).Stdout.Contains(mountPoint, StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), $"the restarted peer to remount {mountPoint}");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
        Assert.Equal(content.AsSpan(0, ChunkBytes).ToArray(), File.ReadAllBytes(rotten));
        Assert.Equal(content.AsSpan(ChunkBytes, ChunkBytes).ToArray(), File.ReadAllBytes(truncated));
        long fetched = (await peer.MountInfoAsync(target)).BytesFetched;
        Assert.Equal(2L * ChunkBytes, fetched); // exactly the two damaged chunks came from the origin again
        await ProcessRunner.RunCheckedAsync("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin")));
        Assert.Equal(fetched, (await peer.MountInfoAsync(target)).BytesFetched); // repaired once, not refetched on every read
    }

    [Fact]
    public async Task M5_PassthroughCopies_StayUnderTheCacheQuota()
    {
        await using var server = await RegistryServer.StartAsync();
        var files = Enumerable.Range(0, 10).Select(i => SampleImages.Bytes(2 * ChunkBytes, 330 + i)).ToArray();
        string target = await new TestImage().Layer(w => { for (int i = 0; i < files.Length; i++) w.File($"f{i}", files[i]); }).PushAndConvertAsync(server.Host, "copies");
        const long quota = 8L << 20;
        await using var peer = await PeerProcess.StartAsync(null, "--cache-quota", "8M");
        string mountPoint = await peer.MountAsync(target);
        for (int i = 0; i < files.Length; i++)
        {
            string path = Path.Combine(mountPoint, $"f{i}");
            Assert.Equal(files[i], await File.ReadAllBytesAsync(path)); // fills the cache
            Assert.Equal(files[i], await File.ReadAllBytesAsync(path)); // asks for a copy in the background
        }
        // The copies are made one after another; opens after a copy is there go through it.
        await Eventually.Async(async () =>
        {
            Assert.Equal(files[^1], await File.ReadAllBytesAsync(Path.Combine(mountPoint, $"f{files.Length - 1}")));
            return (await peer.MountInfoAsync(target)).PassthroughOpens > 0;
        }, TimeSpan.FromSeconds(30), "passthrough to be used");
        var du = await ProcessRunner.RunCheckedAsync("du", "-sk", peer.DataDir);
        long usedKiB = long.Parse(du.Stdout.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(usedKiB * 1024 <= quota * 12 / 10, $"data dir uses {usedKiB} KiB, over 1.2 x the {quota >> 10} KiB quota");
        Assert.Equal(files[0], await File.ReadAllBytesAsync(Path.Combine(mountPoint, "f0"))); // an evicted file still reads
    }
}
