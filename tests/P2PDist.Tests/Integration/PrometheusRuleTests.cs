using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// deploy/kubernetes/prometheus-rule.yaml is the Prometheus operator's form of deploy/prometheus/alerts.yml (the
/// copy promtool unit-tests and MonitoringTests runs in a real Prometheus): the two must carry the same rules.
/// </summary>
public sealed class PrometheusRuleTests
{
    private static readonly string AlertsFile = Path.Combine(AppContext.BaseDirectory, "prometheus", "alerts.yml");
    private static readonly string RuleFile = Path.Combine(AppContext.BaseDirectory, "kubernetes", "prometheus-rule.yaml");

    [Fact]
    public void KubernetesPrometheusRule_CarriesExactlyTheGroupsOfAlertsYml()
    {
        var rule = YamlTree.DocumentsOfFile(RuleFile).Single();
        Assert.Equal(("monitoring.coreos.com/v1", "PrometheusRule"), (YamlTree.Text(rule, "apiVersion"), YamlTree.Text(rule, "kind")));
        var alerts = YamlTree.DocumentsOfFile(AlertsFile).Single();
        Assert.True(YamlTree.List(alerts, "groups").Count > 0);
        var differences = AlertRuleGroups.Differences(YamlTree.At(alerts, "groups")!, YamlTree.At(rule, "spec", "groups")!);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Theory]
    [InlineData("for", "P2PDistPeerDown", "for is \"3m\"")]
    [InlineData("annotations", "P2PDistSupernodeDown", "annotations is")]
    [InlineData("expr", "P2PDistPeersBlocked", "expr is")]
    [InlineData("labels", "P2PDistCacheNearCapacity", "labels is")]
    [InlineData("drop", "P2PDistFuseReadsHung", "rules: expected")]
    public void Comparison_NamesTheRuleAndFieldThatDiffer(string change, string alert, string reported)
    {
        var alerts = YamlTree.DocumentsOfFile(AlertsFile).Single();
        var copy = YamlTree.DocumentsOfFile(AlertsFile).Single();
        var rules = YamlTree.List(YamlTree.List(copy, "groups")[0], "rules");
        var rule = rules.Cast<Dictionary<object, object>>().Single(r => (string)r["alert"] == alert);
        switch (change)
        {
            case "for": rule["for"] = "3m"; break;
            case "annotations": YamlTree.Map(rule, "annotations")["summary"] = "changed"; break;
            case "expr": rule["expr"] = YamlTree.Text(rule, "expr") + " "; break;
            case "labels": YamlTree.Map(rule, "labels")["severity"] = "critical"; break;
            case "drop": rules.Remove(rule); break;
        }
        var differences = AlertRuleGroups.Differences(YamlTree.At(alerts, "groups")!, YamlTree.At(copy, "groups")!);
        Assert.Contains(differences, d => d.Contains(reported, StringComparison.Ordinal) && (change == "drop" || d.Contains(alert, StringComparison.Ordinal)));
    }
}
