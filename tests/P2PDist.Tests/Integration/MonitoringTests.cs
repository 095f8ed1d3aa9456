using System.Text.Json;
using System.Text.RegularExpressions;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The monitoring the project ships, run for real: promtool on the scrape configuration and the alert rules
/// (with their unit tests), and a real Prometheus scraping a live supernode and two peers while one image is read
/// on both, through which every panel of the Grafana dashboards (swarm, node, supernode) and every alert rule is queried. Grafana itself is
/// not packaged for Debian 12 here, so the dashboard's JSON is checked for the fields Grafana needs instead.
/// </summary>
public sealed class MonitoringTests
{
    /// <summary>
    /// Per dashboard, the panels that may stay at zero in a healthy swarm (faults, refusals, waits); every other
    /// panel must show a value above zero once an image has been read on two peers, and every panel must answer.
    /// </summary>
    private static readonly Dictionary<string, HashSet<string>> QuietPanels = new()
    {
        ["p2pdist-swarm.json"] =
        [
            "Blocked peers", "Digest failures (range)", "Uploads under way and refused (busy)", "Peer fetch failures by reason",
            "Digest failures and read errors", "Supernode: faults reported, peers expired, messages refused",
        ],
        ["p2pdist-node.json"] = ["Reads waiting now", "Read errors and digest failures", "Peer fetch failures by reason", "Cache evictions and uploads refused"],
        ["p2pdist-supernode.json"] = ["Blocked peers", "Faults reported, peers expired, messages refused"],
    };

    [Fact]
    public async Task Promtool_ConfigAndRulesAreValid_AndEveryAlertFiresAndResolvesInItsUnitTest()
    {
        string dir = PrometheusServer.ConfigDirectory;
        foreach (string[] check in new[] { new[] { "check", "config", "prometheus.yml" }, ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"] })
        {
            var result = await ProcessRunner.RunAsync("promtool", check, TimeSpan.FromSeconds(60), workingDirectory: dir);
            Assert.True(result.ExitCode == 0, $"promtool {string.Join(' ', check)}: {result.Output}");
        }
        var alerts = Regex.Matches(await File.ReadAllTextAsync(Path.Combine(dir, "alerts.yml")), @"- alert: (\S+)").Select(m => m.Groups[1].Value).ToList();
        string tests = await File.ReadAllTextAsync(Path.Combine(dir, "alerts.test.yml"));
        string runbooks = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "operations.md"));
        Assert.True(alerts.Count >= 9, $"only {alerts.Count} alerts");
        foreach (string alert in alerts)
        {
            // Fires (an expected alert) and resolves (an empty expectation) in the unit tests; has a runbook.
            Assert.Matches($@"alertname: {alert}\s+exp_alerts:\s+(#[^\n]*)?\s*- exp_labels", tests);
            Assert.Contains($"alertname: {alert}, exp_alerts: []", tests);
            Assert.Contains($"### {alert}\n", runbooks);
        }
    }

    [Fact]
    public async Task LiveSwarm_EveryDashboardQueryAndAlertRuleAnswers_TrafficPanelsShowData_AndNothingFires()
    {
        await using var registry = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(3 << 20, 161);
        // With a prefetch list, so the prefetch progress panel has a mount's prefetch to show.
        string prefetchList = Path.Combine(TestPaths.NewDirectory("monitoring"), "prefetch.txt");
        await File.WriteAllTextAsync(prefetchList, "/data.bin\n");
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(registry.Host, "monitoring", "--prefetch-files", prefetchList);
        string supernodeMetrics = $"127.0.0.1:{FreePort.Next()}";
        await using var supernode = await SupernodeProcess.StartAsync("--metrics", supernodeMetrics);
        await using var first = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.70:{FreePort.Next()}");
        await using var second = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.71:{FreePort.Next()}");
        await using var prometheus = await PrometheusServer.StartAsync(new Dictionary<string, IReadOnlyList<string>>
        {
            ["p2pdist-peer"] = [first.MetricsAddress!, second.MetricsAddress!],
            ["p2pdist-supernode"] = [supernodeMetrics],
        });
        // Every target scraped before the workload, so the counters' rise is inside Prometheus's data.
        await Eventually.Async(async () => Values(await prometheus.QueryAsync("up == 1")).Count == 3, TimeSpan.FromSeconds(30), "all three targets up in Prometheus");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await first.MountAsync(target), "data.bin")));
        await supernode.WaitForEveryChunkHeldAsync(await P2PDistCli.BlobOfAsync(target), 3);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await second.MountAsync(target), "data.bin")));
        Assert.Equal(content.Length, (await second.MountInfoAsync(target)).BytesFromPeers);

        var dashboards = Directory.GetFiles(AppContext.BaseDirectory, "p2pdist-*.json").Order().ToList();
        Assert.Equal(QuietPanels.Keys.Order(), dashboards.Select(Path.GetFileName).Order());
        var traffic = new List<Panel>();
        var all = new List<Panel>();
        foreach (string file in dashboards)
        {
            using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(file));
            var panels = CheckDashboardShape(dashboard.RootElement);
            all.AddRange(panels);
            traffic.AddRange(panels.Where(p => !QuietPanels[Path.GetFileName(file)].Contains(p.Title)));
            Assert.All(QuietPanels[Path.GetFileName(file)], title => Assert.Contains(panels, p => p.Title == title)); // no stale names here
        }

        // The rates cover the last minute: wait (bounded) for the scrapes after the reads, then ask every query.
        var silent = traffic;
        await Eventually.Async(async () =>
        {
            var stillSilent = new List<Panel>();
            foreach (var panel in silent)
            {
                if (!(await Task.WhenAll(panel.Queries.Select(q => prometheus.QueryAsync(q)))).Any(r => Values(r).Any(v => v > 0)))
                    stillSilent.Add(panel);
            }
            silent = stillSilent;
            return silent.Count == 0;
        }, TimeSpan.FromSeconds(45), "every traffic panel to show a value above zero",
            describe: () => "no data yet: " + string.Join("; ", silent.Select(p => p.Title)));
        foreach (var panel in all)
        {
            foreach (string query in panel.Queries)
                await prometheus.QueryAsync(query); // throws with Prometheus's error for a query that does not parse or run
        }

        var rules = await prometheus.ApiAsync("rules");
        var loaded = rules.GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).ToList();
        Assert.True(loaded.Count >= 9, $"Prometheus loaded {loaded.Count} rules");
        foreach (var rule in loaded)
        {
            string name = rule.GetProperty("name").GetString()!;
            await prometheus.QueryAsync(rule.GetProperty("query").GetString()!);
            await Eventually.Async(async () => (await RuleHealthAsync(prometheus, name)) == "ok", TimeSpan.FromSeconds(15), $"rule {name} evaluated without error",
                describe: () => RuleHealthAsync(prometheus, name).GetAwaiter().GetResult());
        }
        var alerts = await prometheus.QueryAsync("ALERTS");
        Assert.True(alerts.GetArrayLength() == 0, "alerts pending or firing: " + alerts.GetRawText());
        var buildInfo = Values(await prometheus.QueryAsync("count by (version) (p2pdist_build_info)"));
        Assert.Equal([3.0], buildInfo); // both peers and the supernode, one version
    }

    private sealed record Panel(string Title, IReadOnlyList<string> Queries);

    /// <summary>What Grafana needs of each panel (title, type, position, the data-source variable, queries with ids), and the panels' queries as Prometheus runs them.</summary>
    private static List<Panel> CheckDashboardShape(JsonElement dashboard)
    {
        Assert.Equal("datasource", dashboard.GetProperty("templating").GetProperty("list")[0].GetProperty("name").GetString());
        Assert.Equal("prometheus", dashboard.GetProperty("templating").GetProperty("list")[0].GetProperty("query").GetString());
        Assert.False(string.IsNullOrEmpty(dashboard.GetProperty("uid").GetString()));
        var panels = new List<Panel>();
        foreach (var panel in dashboard.GetProperty("panels").EnumerateArray())
        {
            string title = panel.GetProperty("title").GetString()!;
            Assert.False(string.IsNullOrEmpty(panel.GetProperty("type").GetString()), title);
            var grid = panel.GetProperty("gridPos");
            Assert.All(new[] { "h", "w", "x", "y" }, field => Assert.True(grid.GetProperty(field).GetInt32() >= 0, $"{title}: gridPos.{field}"));
            Assert.Contains("${datasource}", panel.GetProperty("datasource").GetRawText());
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            Assert.All(targets, t => Assert.False(string.IsNullOrEmpty(t.GetProperty("refId").GetString()), $"{title}: refId"));
            // As Grafana sends them: the dashboard's time range and the node variable at "All".
            panels.Add(new Panel(title, targets.Select(t => t.GetProperty("expr").GetString()!
                .Replace("$__range", "5m", StringComparison.Ordinal).Replace("$node", ".*", StringComparison.Ordinal)).ToList()));
        }
        return panels;
    }

    private static async Task<string> RuleHealthAsync(PrometheusServer prometheus, string name)
    {
        var rules = await prometheus.ApiAsync("rules");
        var rule = rules.GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray()).Single(r => r.GetProperty("name").GetString() == name);
        return rule.GetProperty("health").GetString() + (rule.TryGetProperty("lastError", out var error) ? " " + error.GetString() : "");
    }

    /// <summary>The sample values of an instant-query vector (NaN where histogram_quantile had nothing to work on).</summary>
    private static List<double> Values(JsonElement result) =>
        result.EnumerateArray().Select(r => r.GetProperty("value")[1].GetString() switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            var text => double.Parse(text!, System.Globalization.CultureInfo.InvariantCulture),
        }).ToList();
}
