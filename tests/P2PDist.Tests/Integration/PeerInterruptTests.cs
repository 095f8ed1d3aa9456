using System.Diagnostics;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// A process blocked in a slow lazy read cannot die, not even of SIGKILL, until the daemon answers: the
/// kernel sends FUSE_INTERRUPT, which must cancel the wait and answer at once.
/// </summary>
[Collection(LoopbackShapingCollection.Name)]
public sealed class PeerInterruptTests
{
    [Fact]
    public async Task ReaderKilledDuringASlowFetch_IsReleasedPromptly()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(4 << 20, 121);
        string source = await new TestImage().Layer(w => w.File("slow.bin", content)).PushAsync(server.Host, "interrupt", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/interrupt:rafs", "--plain-http");
        await using var peer = await PeerProcess.StartAsync(null, "--read-timeout", "120");
        string mountPoint = await peer.MountAsync($"{server.Host}/interrupt:rafs");

        int exchangesBefore = server.Exchanges.Count;
        await using (await LoopbackShaping.LimitAsync(server.Port, "200kbit")) // one 1 MiB chunk takes ~40 s
        {
            using var reader = Process.Start(new ProcessStartInfo("cat", Path.Combine(mountPoint, "slow.bin")) { RedirectStandardOutput = true })!;
            _ = reader.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
            // The read is waiting once the daemon's ranged GET for its chunk has been answered and is trickling in.
            await Eventually.Async(() => Task.FromResult(server.Exchanges.Skip(exchangesBefore).Any(e => e.IsBlobDownload("interrupt") && e.Status == 206)),
                TimeSpan.FromSeconds(30), "the daemon's ranged GET of slow.bin's chunk", () => string.Join("; ", server.Exchanges.Skip(exchangesBefore)));
            Assert.False(reader.HasExited, "the read should still be waiting for its chunk");
            var clock = Stopwatch.StartNew();
            reader.Kill();
            await reader.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the killed reader took {clock.Elapsed} to go");
        }
        // The daemon is fine afterwards: the same file reads in full once the link is back to normal.
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "slow.bin")));
    }
}
