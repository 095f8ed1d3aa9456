using System.Net;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The supernode's operator address answers like the peer's: liveness at /healthz, readiness at /readyz (what the
/// Kubernetes probes ask), Prometheus text at /metrics; the scheduler's own port answers none of them.
/// </summary>
public sealed class SupernodeHealthTests
{
    [Fact]
    public async Task HealthAndReadiness_AreServedOnTheMetricsAddress_AndNotOnTheSchedulerPort()
    {
        string metrics = $"127.0.0.1:{FreePort.Next()}";
        await using var supernode = await SupernodeProcess.StartAsync("--metrics", metrics);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        var health = await http.GetAsync($"http://{metrics}/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok\n", await health.Content.ReadAsStringAsync());
        string ready = await Eventually.Async(async () =>
        {
            var answer = await http.GetAsync($"http://{metrics}/readyz");
            return answer.StatusCode == HttpStatusCode.OK ? await answer.Content.ReadAsStringAsync() : "";
        }, text => text == "ready\n", TimeSpan.FromSeconds(10), "the supernode ready");
        Assert.Equal("ready\n", ready);
        Assert.Contains("p2pdist_supernode_peers", await http.GetStringAsync($"http://{metrics}/metrics"));

        // The scheduler's port speaks HTTP/2 only: an HTTP/1.1 GET of /healthz there gets no health answer.
        bool answeredThere;
        try
        {
            answeredThere = (await http.GetAsync($"http://{supernode.Address}/healthz")).StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            answeredThere = false;
        }
        Assert.False(answeredThere, "the scheduler's port answered /healthz");
    }
}
