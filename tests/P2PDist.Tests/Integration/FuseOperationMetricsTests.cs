using P2PDist.Peer.Fuse;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The FUSE latency metrics of a real mount, read off the peer's /metrics: every request the kernel sent is
/// counted under its operation and a lookup of a missing name is an answer (ok), not an error; which errno
/// counts as an error is a unit test below.
/// </summary>
public sealed class FuseOperationMetricsTests
{
    private static string Series(string operation, string result) =>
        $"p2pdist_peer_fuse_operation_seconds_count{{operation=\"{operation}\",result=\"{result}\"}}";

    [Fact]
    public async Task EveryOperationTheKernelSends_IsCountedByOperationAndResult()
    {
        await using var registry = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 181);
        string target = await new TestImage().Layer(w => w.File("dir/data.bin", content)).PushAndConvertAsync(registry.Host, "fuse-metrics");
        await using var peer = await PeerProcess.StartAsync(null);
        string before = await peer.MetricsAsync();
        Assert.Equal(0, MetricsScrape.Value(before, Series("read", "ok"))); // the series exist before the first request

        string root = await peer.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(root, "dir", "data.bin")));
        Assert.False(File.Exists(Path.Combine(root, "dir", "no-such-file")));

        string after = await peer.MetricsAsync();
        Assert.True(MetricsScrape.Value(after, Series("read", "ok")) >= 1, "no read counted");
        Assert.True(MetricsScrape.Value(after, Series("lookup", "ok")) >= 3, "lookups of dir, data.bin and the missing name not all counted as answers");
        Assert.Equal(0, MetricsScrape.Value(after, Series("lookup", "error")));
        Assert.True(MetricsScrape.Value(after, Series("getattr", "ok")) + MetricsScrape.Value(after, Series("open", "ok")) >= 1, "no getattr or open counted");
        Assert.True(MetricsScrape.Value(after, "p2pdist_peer_fuse_operation_seconds_sum{operation=\"read\",result=\"ok\"}") > 0);
    }

    [Theory]
    [InlineData((uint)FuseOpcode.Read, 0, false)]
    [InlineData((uint)FuseOpcode.Lookup, Errno.ENOENT, false)]
    [InlineData((uint)FuseOpcode.Getattr, Errno.ENOENT, true)]
    [InlineData((uint)FuseOpcode.Getxattr, Errno.ENODATA, false)]
    [InlineData((uint)FuseOpcode.Listxattr, Errno.ERANGE, false)]
    [InlineData((uint)FuseOpcode.Read, Errno.EIO, true)]
    [InlineData((uint)FuseOpcode.Setattr, Errno.EROFS, true)]
    public void AnErrnoCountsAsAnError_OnlyWhenItIsNotAnOrdinaryAnswer(uint opcode, int errno, bool error) =>
        Assert.Equal(error, FuseOperationMetrics.IsError((FuseOpcode)opcode, errno));
}
