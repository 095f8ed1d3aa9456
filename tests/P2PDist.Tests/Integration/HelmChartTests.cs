using System.Text.RegularExpressions;
using P2PDist.Peer.Daemon;
using P2PDist.Settings;
using P2PDist.Supernode;
using P2PDist.Tests.Fixtures;
using static P2PDist.Tests.Fixtures.YamlTree;

namespace P2PDist.Tests.Integration;

/// <summary>
/// deploy/helm/p2pdist rendered with Helm's template semantics (HelmRenderer: Helm is not packaged for Debian 12)
/// with its defaults, with monitoring on and with TLS off: every document parses, the workloads have what
/// deploy/kubernetes gives them (FUSE, capabilities, propagation, the snapshotter socket on the host, TLS from
/// the node or a Secret), the settings files generated from values load with the daemons' own loaders and agree
/// with the ports and mounts, and the PrometheusRule carries deploy/prometheus/alerts.yml's rules.
/// </summary>
public sealed class HelmChartTests
{
    private const string Monitoring = "monitoring: {podMonitor: true, serviceMonitor: true, prometheusRule: true, ruleLabels: {release: prometheus}}\n";

    [Fact]
    public async Task Defaults_RenderTheWorkloads_WithTls_AndNoMonitoring()
    {
        var documents = await HelmRenderer.RenderAsync();
        Assert.Equal(["ConfigMap", "ConfigMap", "DaemonSet", "Deployment", "Service"], documents.Select(d => Text(d, "kind")).Order());
        Assert.All(documents, d => Assert.Equal("p2pdist", Text(d, "metadata", "namespace")));
        string version = Regex.Match(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "repo", "Directory.Build.props")), "<Version>([^<]+)</Version>").Groups[1].Value;

        var daemonSet = documents.Single(d => Text(d, "kind") == "DaemonSet");
        var pod = Map(daemonSet, "spec", "template", "spec");
        Assert.Equal("true", Text(pod, "hostNetwork"));
        var peer = (Dictionary<object, object>)List(pod, "containers").Single();
        Assert.Equal($"p2pdist-peer:{version}", Text(peer, "image"));
        Assert.Equal("false", Text(peer, "securityContext", "privileged"));
        Assert.Equal(["ALL"], List(peer, "securityContext", "capabilities", "drop").Cast<string>());
        // The same capabilities as deploy/kubernetes/peer.yaml's DaemonSet, which the chart mirrors.
        Assert.Equal(ManifestPeerCapabilities(), List(peer, "securityContext", "capabilities", "add").Cast<string>());
        var volumes = ByKey(pod, "name", "volumes");
        var mounts = ByKey(peer, "name", "volumeMounts");
        Assert.Equal(("/dev/fuse", "CharDevice"), (Text(volumes["fuse"], "hostPath", "path"), Text(volumes["fuse"], "hostPath", "type")));
        Assert.Equal("/dev/fuse", Text(mounts["fuse"], "mountPath"));
        Assert.Equal("Bidirectional", Text(mounts["state"], "mountPropagation"));
        Assert.Equal(Text(volumes["state"], "hostPath", "path"), Text(mounts["state"], "mountPath"));
        Assert.Equal(Text(volumes["snapshotter"], "hostPath", "path"), Text(mounts["snapshotter"], "mountPath"));
        Assert.Equal(Text(volumes["tls"], "hostPath", "path"), Text(mounts["tls"], "mountPath")); // each node's own certificate
        var environment = ByKey(peer, "name", "env");
        Assert.Equal("status.hostIP", Text(environment["NODE_IP"], "valueFrom", "fieldRef", "fieldPath"));
        var ports = ByKey(peer, "name", "ports");
        Assert.Equal($"$(NODE_IP):{Text(ports["chunks"], "containerPort")}", Text(environment["P2PDIST_LISTEN"], "value"));
        Assert.Equal($"$(NODE_IP):{Text(ports["metrics"], "containerPort")}", Text(environment["P2PDIST_METRICS_LISTEN"], "value"));

        // TLS files do not exist here, so the settings are read by the loader's file reader (unknown keys fail), not validated.
        var peerSettings = SettingsFile.Read<PeerOptions>(ConfigFile(documents, "peer.yaml"));
        Assert.StartsWith(Text(mounts["state"], "mountPath") + "/", peerSettings.DataDir);
        Assert.Equal(Text(mounts["snapshotter"], "mountPath"), Path.GetDirectoryName(peerSettings.SnapshotterSocketPath));
        Assert.StartsWith(Text(mounts["tls"], "mountPath") + "/", peerSettings.TlsCertificateFile);
        Assert.StartsWith(Text(mounts["tls"], "mountPath") + "/", peerSettings.TlsCaFile);
        Assert.Equal(21474836480, peerSettings.CacheQuotaBytes);

        var service = documents.Single(d => Text(d, "kind") == "Service");
        var servicePorts = ByKey(service, "name", "spec", "ports");
        Assert.Equal($"{Text(service, "metadata", "name")}.p2pdist.svc:{Text(servicePorts["grpc"], "port")}", peerSettings.Supernode);

        var deployment = documents.Single(d => Text(d, "kind") == "Deployment");
        var supernodePod = Map(deployment, "spec", "template", "spec");
        var supernode = (Dictionary<object, object>)List(supernodePod, "containers").Single();
        Assert.Equal($"p2pdist-supernode:{version}", Text(supernode, "image"));
        Assert.Equal("true", Text(supernodePod, "securityContext", "runAsNonRoot"));
        Assert.Equal("p2pdist-supernode-tls", Text(ByKey(supernodePod, "name", "volumes")["tls"], "secret", "secretName"));
        var supernodePorts = ByKey(supernode, "name", "ports");
        Assert.All(List(service, "spec", "ports").Cast<Dictionary<object, object>>(), p => Assert.Contains(Text(p, "targetPort"), supernodePorts.Keys));
        Assert.All(Map(service, "spec", "selector"), label => Assert.Equal(label.Value, Map(deployment, "spec", "template", "metadata", "labels")[label.Key]));
        var supernodeSettings = SettingsFile.Read<SupernodeOptions>(ConfigFile(documents, "supernode.yaml"));
        Assert.Equal("0.0.0.0:" + Text(supernodePorts["grpc"], "containerPort"), supernodeSettings.Listen);
        Assert.Equal("0.0.0.0:" + Text(supernodePorts["metrics"], "containerPort"), supernodeSettings.MetricsListen);
        Assert.StartsWith(Text(ByKey(supernode, "name", "volumeMounts")["tls"], "mountPath") + "/", supernodeSettings.TlsKeyFile);
        Assert.False(supernodeSettings.AllowLoopbackAddresses);
    }

    [Fact]
    public async Task MonitoringOn_RendersMonitorsThatSelectTheWorkloads_AndThePrometheusRuleOfAlertsYml()
    {
        var documents = await HelmRenderer.RenderAsync(Monitoring);
        var podMonitor = documents.Single(d => Text(d, "kind") == "PodMonitor");
        var daemonSet = documents.Single(d => Text(d, "kind") == "DaemonSet");
        Assert.All(Map(podMonitor, "spec", "selector", "matchLabels"), label => Assert.Equal(label.Value, Map(daemonSet, "spec", "template", "metadata", "labels")[label.Key]));
        var peerPorts = ByKey(List(daemonSet, "spec", "template", "spec", "containers")[0], "name", "ports");
        Assert.Contains(Text(List(podMonitor, "spec", "podMetricsEndpoints")[0], "port"), peerPorts.Keys);

        var serviceMonitor = documents.Single(d => Text(d, "kind") == "ServiceMonitor");
        var service = documents.Single(d => Text(d, "kind") == "Service");
        Assert.All(Map(serviceMonitor, "spec", "selector", "matchLabels"), label => Assert.Equal(label.Value, Map(service, "metadata", "labels")[label.Key]));
        Assert.Contains(Text(List(serviceMonitor, "spec", "endpoints")[0], "port"), ByKey(service, "name", "spec", "ports").Keys);

        var rule = documents.Single(d => Text(d, "kind") == "PrometheusRule");
        Assert.Equal("prometheus", Text(rule, "metadata", "labels", "release")); // what the operator's ruleSelector matches
        var alerts = DocumentsOfFile(Path.Combine(AppContext.BaseDirectory, "prometheus", "alerts.yml")).Single();
        var differences = AlertRuleGroups.Differences(At(alerts, "groups")!, At(rule, "spec", "groups")!);
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    [Fact]
    public async Task TlsOff_BothDaemonsLoadWithTheirFullLoaders_AsInsecure_OnTheChosenPorts()
    {
        var documents = await HelmRenderer.RenderAsync("tls: {enabled: false}\nsupernode: {port: 8800, metricsPort: 8801}\npeer: {chunkPort: 8810}\n");
        Assert.DoesNotContain(documents.Where(d => Text(d, "kind") is "DaemonSet" or "Deployment"),
            d => ByKey(d, "name", "spec", "template", "spec", "volumes").ContainsKey("tls"));
        var daemonSet = documents.Single(d => Text(d, "kind") == "DaemonSet");
        var environment = ByKey(List(daemonSet, "spec", "template", "spec", "containers")[0], "name", "env");
        // As the kubelet expands $(NODE_IP) for a node at 10.1.2.3.
        var nodeEnvironment = new Dictionary<string, string?>
        {
            ["P2PDIST_LISTEN"] = Text(environment["P2PDIST_LISTEN"], "value").Replace("$(NODE_IP)", "10.1.2.3", StringComparison.Ordinal),
            ["P2PDIST_METRICS_LISTEN"] = Text(environment["P2PDIST_METRICS_LISTEN"], "value").Replace("$(NODE_IP)", "10.1.2.3", StringComparison.Ordinal),
        };
        var peer = PeerOptions.Load(ConfigFile(documents, "peer.yaml"), nodeEnvironment, null, null);
        Assert.True(peer.Insecure);
        Assert.Equal("10.1.2.3:8810", peer.Listen);
        Assert.EndsWith(".p2pdist.svc:8800", peer.Supernode);
        var supernode = SupernodeOptions.Load(ConfigFile(documents, "supernode.yaml"), new Dictionary<string, string?>(), null);
        Assert.True(supernode.Insecure);
        Assert.Equal(("0.0.0.0:8800", "0.0.0.0:8801"), (supernode.Listen, supernode.MetricsListen));
    }

    [Fact]
    public async Task EmptySupernodeSecret_WithTls_FailsTheRender_NamingTheValue()
    {
        Assert.Contains("tls.supernodeSecret", await HelmRenderer.RenderFailureAsync("tls: {supernodeSecret: \"\"}\n"));
    }

    private static List<string> ManifestPeerCapabilities()
    {
        var daemonSet = DocumentsOfFile(Path.Combine(AppContext.BaseDirectory, "kubernetes", "peer.yaml")).Single(d => Text(d, "kind") == "DaemonSet");
        return [.. List(List(daemonSet, "spec", "template", "spec", "containers")[0], "securityContext", "capabilities", "add").Cast<string>()];
    }

    /// <summary>A settings file generated into a ConfigMap, written out for the daemon's loader.</summary>
    private static string ConfigFile(List<Dictionary<object, object>> documents, string key)
    {
        var configMap = documents.Single(d => Text(d, "kind") == "ConfigMap" && Map(d, "data").ContainsKey(key));
        string path = Path.Combine(TestPaths.NewDirectory("helm-config"), key);
        File.WriteAllText(path, Text(configMap, "data", key));
        return path;
    }
}
