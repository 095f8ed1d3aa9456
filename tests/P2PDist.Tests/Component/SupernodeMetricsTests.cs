namespace P2PDist.Tests.Component;

/// <summary>Each supernode counts in its own registry: two in one process do not see each other's calls.</summary>
public sealed class SupernodeMetricsTests
{
    [Fact]
    public async Task TwoSupernodesInOneProcess_CountApart()
    {
        await using var first = await InProcessSupernode.StartAsync();
        await using var second = await InProcessSupernode.StartAsync();
        await first.RegisterAsync("peer-a", "127.0.3.1:7710");
        await first.RegisterAsync("peer-b", "127.0.3.2:7710");
        await first.AnnounceAsync("peer-a", InProcessSupernode.BlobA, 0, 4);

        Assert.Equal(2, first.Metrics.Registrations.Value);
        Assert.Equal(1, first.Metrics.Announcements.Value);
        Assert.Equal(0, second.Metrics.Registrations.Value);
        Assert.Equal(0, second.Metrics.Announcements.Value);
    }
}
