using System.Text.Json;
using System.Text.RegularExpressions;

namespace P2PDist.Tests.Unit;

/// <summary>
/// No Grafana can be installed on this machine (neither Debian nor the npm registry ships its server), so the
/// dashboards are checked against the parts of Grafana's dashboard schema (schemaVersion 39) that decide whether
/// an import works and the panels render: what Grafana refuses or silently drops. Whether every query answers
/// with data is MonitoringTests' job, against a real Prometheus.
/// </summary>
public sealed partial class DashboardSchemaTests
{
    private static readonly HashSet<string> PanelTypes = ["stat", "timeseries", "gauge", "bargauge", "table", "text", "row"];

    /// <summary>Grafana's unit ids the dashboards may use (an unknown id renders as a bare number without warning).</summary>
    private static readonly HashSet<string> Units = ["none", "short", "percent", "percentunit", "s", "ms", "bytes", "decbytes", "Bps", "bps", "ops", "reqps"];

    private static List<string> Files() => Directory.GetFiles(AppContext.BaseDirectory, "p2pdist-*.json").Select(f => Path.GetFileName(f)).Order().ToList();

    public static TheoryData<string> Dashboards() => new(Files());

    private static JsonElement Load(string file) => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, file))).RootElement;

    [Fact]
    public void TheThreeDashboards_AreThere() =>
        Assert.Equal(["p2pdist-node.json", "p2pdist-supernode.json", "p2pdist-swarm.json"], Files());

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Dashboard_HasTheFieldsAnImportNeeds(string file)
    {
        var dashboard = Load(file);
        Assert.True(dashboard.GetProperty("schemaVersion").GetInt32() >= 36, $"{file}: schemaVersion below 36 is migrated on import");
        Assert.False(string.IsNullOrWhiteSpace(dashboard.GetProperty("title").GetString()), $"{file}: title");
        Assert.Matches("^[A-Za-z0-9_-]{1,40}$", dashboard.GetProperty("uid").GetString()!);
        Assert.Equal(JsonValueKind.Array, dashboard.GetProperty("panels").ValueKind);
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Panels_HaveUniqueIds_KnownTypesAndUnits_AndFitTheGridWithoutOverlapping(string file)
    {
        var panels = Load(file).GetProperty("panels").EnumerateArray().ToList();
        var ids = panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var placed = new List<(string Title, int X, int Y, int W, int H)>();
        foreach (var panel in panels)
        {
            string title = panel.GetProperty("title").GetString()!;
            Assert.Contains(panel.GetProperty("type").GetString()!, PanelTypes);
            string unit = panel.GetProperty("fieldConfig").GetProperty("defaults").GetProperty("unit").GetString()!;
            Assert.True(Units.Contains(unit), $"{file}: {title}: unit '{unit}' is not a Grafana unit id this test knows");
            var grid = panel.GetProperty("gridPos");
            var box = (title, grid.GetProperty("x").GetInt32(), grid.GetProperty("y").GetInt32(), grid.GetProperty("w").GetInt32(), grid.GetProperty("h").GetInt32());
            Assert.True(box.Item2 >= 0 && box.Item4 >= 1 && box.Item2 + box.Item4 <= 24, $"{file}: {title}: gridPos outside Grafana's 24 columns");
            Assert.True(box.Item3 >= 0 && box.Item5 >= 1, $"{file}: {title}: gridPos height or row");
            var overlap = placed.FirstOrDefault(o => box.Item2 < o.X + o.W && o.X < box.Item2 + box.Item4 && box.Item3 < o.Y + o.H && o.Y < box.Item3 + box.Item5);
            Assert.True(overlap.Title is null, $"{file}: {title} overlaps {overlap.Title}");
            placed.Add(box);
            var refIds = panel.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("refId").GetString()).ToList();
            Assert.Equal(refIds.Count, refIds.Distinct().Count());
        }
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void EveryVariableAQueryUses_IsDefined_AndTheNodeVariableOffersAll(string file)
    {
        var dashboard = Load(file);
        var defined = dashboard.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.Equal("datasource", defined["datasource"].GetProperty("type").GetString());
        var used = dashboard.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .SelectMany(expr => Variable().Matches(expr).Select(m => m.Groups[1].Value))
            .Where(name => !name.StartsWith("__", StringComparison.Ordinal)) // Grafana's own, such as $__range
            .ToHashSet();
        Assert.All(used, name => Assert.True(defined.ContainsKey(name), $"{file}: ${name} is used but not defined"));
        if (file != "p2pdist-supernode.json")
        {
            // The swarm and node views filter by node; "All" must be offered so they open on the whole swarm.
            Assert.Contains("node", used);
            Assert.True(defined["node"].GetProperty("includeAll").GetBoolean());
            Assert.True(defined["node"].GetProperty("multi").GetBoolean());
        }
    }

    [GeneratedRegex(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex Variable();
}
