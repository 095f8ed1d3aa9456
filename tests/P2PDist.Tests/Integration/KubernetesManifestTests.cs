using System.Text.RegularExpressions;
using P2PDist.Peer.Daemon;
using P2PDist.Settings;
using P2PDist.Supernode;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace P2PDist.Tests.Integration;

/// <summary>
/// deploy/kubernetes and deploy/docker, checked without a cluster (none runs here, and Helm is not packaged
/// for Debian 12): every manifest parses, the kustomization lists them all, the peer's DaemonSet has what FUSE
/// mounts need and no more, the settings embedded in the ConfigMaps load with the daemons' own loader, and the
/// images the manifests name are the ones the Dockerfile builds, at this build's version.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "kubernetes");

    [Fact]
    public void EveryManifest_Parses_AndTheKustomizationListsThemAll()
    {
        var files = Directory.GetFiles(Dir, "*.yaml").Select(f => Path.GetFileName(f)).Where(f => f != "kustomization.yaml").Order().ToList();
        var kustomization = Documents("kustomization.yaml").Single();
        Assert.Equal(files, List(kustomization, "resources").Cast<string>().Order());
        foreach (string file in files)
        {
            foreach (var document in Documents(file))
            {
                Assert.False(string.IsNullOrEmpty(Text(document, "apiVersion")), file);
                Assert.False(string.IsNullOrEmpty(Text(document, "kind")), file);
                Assert.Equal("p2pdist", Text(document, "metadata", "namespace") ?? (Text(document, "kind") == "Namespace" ? "p2pdist" : null));
            }
        }
    }

    [Fact]
    public void PeerDaemonSet_GivesFuseAndMountPropagation_AndNoMore()
    {
        var daemonSet = Documents("peer.yaml").Single(d => Text(d, "kind") == "DaemonSet");
        var pod = Map(daemonSet, "spec", "template", "spec");
        Assert.Equal("true", Text(pod, "hostNetwork")); // its address on the wire is the node's
        var container = (Dictionary<object, object>)List(pod, "containers").Single();
        Assert.Equal("false", Text(container, "securityContext", "privileged"));
        Assert.Equal(["ALL"], List(container, "securityContext", "capabilities", "drop").Cast<string>());
        Assert.Contains("SYS_ADMIN", List(container, "securityContext", "capabilities", "add").Cast<string>());
        var volumes = List(pod, "volumes").Cast<Dictionary<object, object>>().ToDictionary(v => (string)v["name"]);
        var mounts = List(container, "volumeMounts").Cast<Dictionary<object, object>>().ToDictionary(m => (string)m["name"]);
        Assert.Equal(("/dev/fuse", "CharDevice"), (Text(volumes["fuse"], "hostPath", "path"), Text(volumes["fuse"], "hostPath", "type")));
        Assert.Equal("/dev/fuse", Text(mounts["fuse"], "mountPath"));
        Assert.Equal("Bidirectional", Text(mounts["state"], "mountPropagation")); // the runtime sees the FUSE mounts
        Assert.Equal(Text(volumes["state"], "hostPath", "path"), Text(mounts["state"], "mountPath"));
        var environment = List(container, "env").Cast<Dictionary<object, object>>().ToDictionary(e => (string)e["name"]);
        Assert.Equal("$(NODE_IP):7710", Text(environment["P2PDIST_LISTEN"], "value"));
        Assert.Equal("status.hostIP", Text(environment["NODE_IP"], "valueFrom", "fieldRef", "fieldPath"));

        var settings = LoadEmbedded<PeerOptions>("peer.yaml", "peer.yaml");
        Assert.Equal(Text(mounts["state"], "mountPath") + "/peer", settings.DataDir); // the data dir is in the shared mount
        Assert.Equal("p2pdist-supernode.p2pdist.svc:7700", settings.Supernode);
        Assert.StartsWith(Text(mounts["tls"], "mountPath") + "/", settings.TlsCertificateFile);
        Assert.Equal("json", settings.LogFormat);
    }

    [Fact]
    public void Supernode_RunsUnprivileged_AndItsServiceReachesItsPorts()
    {
        var documents = Documents("supernode.yaml");
        var pod = Map(documents.Single(d => Text(d, "kind") == "Deployment"), "spec", "template", "spec");
        Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
        var container = (Dictionary<object, object>)List(pod, "containers").Single();
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal(["ALL"], List(container, "securityContext", "capabilities", "drop").Cast<string>());
        var ports = List(container, "ports").Cast<Dictionary<object, object>>().Select(p => (string)p["name"]).ToHashSet();
        var service = documents.Single(d => Text(d, "kind") == "Service");
        Assert.All(List(service, "spec", "ports").Cast<Dictionary<object, object>>(), p => Assert.Contains((string)p["targetPort"], ports));

        var settings = LoadEmbedded<SupernodeOptions>("supernode.yaml", "supernode.yaml");
        Assert.Equal("0.0.0.0:7700", settings.Listen);
        Assert.False(settings.AllowLoopbackAddresses); // a multi-node cluster: no peer may point others at their loopback
        Assert.Contains(settings.MetricsListen!.Split(':')[1], List(container, "ports").Cast<Dictionary<object, object>>().Select(p => Text(p, "containerPort")));
    }

    [Fact]
    public void ManifestImages_AreTheDockerfilesTargets_AtThisBuildsVersion()
    {
        string dockerfile = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docker", "Dockerfile"));
        Assert.Contains("RUN deploy/scripts/build.sh", dockerfile); // the README's build, nothing else
        string version = Regex.Match(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "repo", "Directory.Build.props")), "<Version>([^<]+)</Version>").Groups[1].Value;
        foreach (var (file, target) in new[] { ("peer.yaml", "peer"), ("supernode.yaml", "supernode") })
        {
            Assert.Matches($@"FROM runtime AS {target}\n", dockerfile);
            Assert.Contains($@"ENTRYPOINT [""/usr/local/bin/p2pdist"", ""{target}""]", dockerfile);
            var workload = Documents(file).Single(d => Text(d, "kind") is "DaemonSet" or "Deployment");
            var container = (Dictionary<object, object>)List(workload, "spec", "template", "spec", "containers").Single();
            Assert.Equal($"p2pdist-{target}:{version}", Text(container, "image"));
        }
    }

    /// <summary>A daemon's settings file embedded in a ConfigMap, read by the daemon's own settings loader (unknown keys fail).</summary>
    private static T LoadEmbedded<T>(string file, string key) where T : new()
    {
        var configMap = Documents(file).Single(d => Text(d, "kind") == "ConfigMap");
        string path = Path.Combine(Fixtures.TestPaths.NewDirectory("configmap"), key);
        File.WriteAllText(path, Text(configMap, "data", key));
        return SettingsFile.Read<T>(path);
    }

    private static List<Dictionary<object, object>> Documents(string file)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(File.ReadAllText(Path.Combine(Dir, file))));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
            documents.Add(deserializer.Deserialize<Dictionary<object, object>>(parser));
        Assert.NotEmpty(documents);
        return documents;
    }

    private static object? At(object node, string[] path)
    {
        foreach (string key in path)
            node = node is Dictionary<object, object> map && map.TryGetValue(key, out var next) ? next : throw new Xunit.Sdk.XunitException($"no {string.Join('.', path)} (missing at {key})");
        return node;
    }

    private static string? Text(Dictionary<object, object> node, params string[] path)
    {
        try
        {
            return At(node, path)?.ToString();
        }
        catch (Xunit.Sdk.XunitException) when (path[^1] == "namespace")
        {
            return null;
        }
    }

    private static Dictionary<object, object> Map(Dictionary<object, object> node, params string[] path) => (Dictionary<object, object>)At(node, path)!;

    private static List<object> List(Dictionary<object, object> node, params string[] path) => (List<object>)At(node, path)!;
}
