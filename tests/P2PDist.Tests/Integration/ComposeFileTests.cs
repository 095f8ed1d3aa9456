using System.Text.RegularExpressions;
using P2PDist.Peer.Daemon;
using P2PDist.Supernode;
using P2PDist.Tests.Fixtures;
using static P2PDist.Tests.Fixtures.YamlTree;

namespace P2PDist.Tests.Integration;

/// <summary>
/// deploy/compose, checked without a Docker engine (none runs here, and Debian 12's docker client has no compose
/// plugin): the peer gets /dev/fuse, CAP_SYS_ADMIN and no more privilege, and shares its mounts and snapshotter
/// socket with the host; the images are the Dockerfile's targets; the mounted settings load with the daemons' own
/// loaders, and the published ports are the ones those settings listen on.
/// </summary>
public sealed class ComposeFileTests
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "compose");

    private static Dictionary<object, object> Services => Map(DocumentsOfFile(Path.Combine(Dir, "compose.yaml")).Single(), "services");

    [Fact]
    public void Peer_HasFuseAndSysAdmin_NotPrivileged_AndSharesItsMountsAndSocketWithTheHost()
    {
        var peer = Map(Services, "peer");
        Assert.Contains("/dev/fuse:/dev/fuse", List(peer, "devices").Cast<string>());
        Assert.Equal(["SYS_ADMIN"], List(peer, "cap_add").Cast<string>());
        Assert.False(Has(peer, "privileged") && Text(peer, "privileged") != "false", "the peer must not be privileged");
        Assert.Contains(List(peer, "security_opt").Cast<string>(), o => o is "apparmor:unconfined" or "apparmor=unconfined");

        var settings = LoadPeer(peer);
        var binds = Binds(peer);
        var state = binds.Single(b => IsUnder(settings.DataDir, Text(b, "target")));
        Assert.Equal("rshared", Text(state, "bind", "propagation")); // the host's containerd sees the FUSE mounts
        Assert.Equal(Text(state, "source"), Text(state, "target")); // the same paths inside and out
        string socketDir = Path.GetDirectoryName(settings.SnapshotterSocketPath)!;
        var socket = binds.Single(b => Text(b, "target") == socketDir);
        Assert.Equal(socketDir, Text(socket, "source")); // where `p2pdist containerd config --socket` points the host
    }

    [Theory]
    [InlineData("peer")]
    [InlineData("supernode")]
    public void Daemons_AreBuiltFromTheDockerfilesTargets_WithTheirSettingsFileMounted(string service)
    {
        var daemon = Map(Services, service);
        Assert.Equal("../..", Text(daemon, "build", "context")); // the repository root, as the Dockerfile's COPY expects
        string dockerfile = Text(daemon, "build", "dockerfile");
        Assert.Equal("deploy/docker/Dockerfile", dockerfile);
        // Compose resolves the Dockerfile against the context: that is the Dockerfile the tests read.
        Assert.Equal("/r/deploy/docker/Dockerfile", Path.GetFullPath(Path.Combine("/r/deploy/compose", "../..", dockerfile)));
        string text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docker", "Dockerfile"));
        string target = Text(daemon, "build", "target");
        Assert.Equal(service, target);
        Assert.Matches($@"(?m)^FROM \S+ AS {Regex.Escape(target)}$", text);
        Assert.Contains($@"ENTRYPOINT [""/usr/local/bin/p2pdist"", ""{service}""]", text);

        var command = List(daemon, "command").Cast<string>().ToList();
        Assert.Equal("--config", command[0]);
        var config = Binds(daemon).Single(b => Text(b, "target") == command[1]);
        Assert.Equal($"./{service}.yaml", Text(config, "source"));
        Assert.True(File.Exists(Path.Combine(Dir, $"{service}.yaml")));
    }

    [Fact]
    public void PublishedPorts_AreTheOnesTheSettingsListenOn_OnTheHostsLoopback()
    {
        var peer = LoadPeer(Map(Services, "peer"));
        Assert.Contains(Port(peer.Listen!), Published(Map(Services, "peer")));
        Assert.Contains(Port(peer.MetricsListen!), Published(Map(Services, "peer")));
        // The chunk address a peer registers is its fixed address on the compose network.
        Assert.Equal(Text(Services, "peer", "networks", "swarm", "ipv4_address"), peer.Listen!.Split(':')[0]);
        Assert.Equal("supernode:" + Port(LoadSupernode().Listen), peer.Supernode);

        var supernode = LoadSupernode();
        Assert.False(supernode.AllowLoopbackAddresses);
        Assert.Equal([Port(supernode.Listen), Port(supernode.MetricsListen!)], Published(Map(Services, "supernode")).Order());
        Assert.Contains("5000", Published(Map(Services, "registry")));
        foreach (string service in new[] { "registry", "supernode", "peer" })
            Assert.All(List(Services, service, "ports").Cast<string>(), p => Assert.StartsWith("127.0.0.1:", p)); // plain text: loopback only

        // The registry's plain-HTTP exception names the registry's own address.
        string registry = Text(Services, "registry", "networks", "swarm", "ipv4_address") + ":5000";
        Assert.Equal([registry], peer.PlainHttpRegistries);
    }

    [Fact]
    public void Registry_IsTheCncfDistributionImage()
    {
        string image = Text(Services, "registry", "image");
        Assert.Matches(@"^(registry|distribution/distribution):\d", image);
    }

    private static PeerOptions LoadPeer(Dictionary<object, object> service)
    {
        var environment = Has(service, "environment")
            ? Map(service, "environment").ToDictionary(e => (string)e.Key, e => (string?)e.Value)
            : [];
        return PeerOptions.Load(Path.Combine(Dir, "peer.yaml"), environment, null, null);
    }

    private static SupernodeOptions LoadSupernode() =>
        SupernodeOptions.Load(Path.Combine(Dir, "supernode.yaml"), new Dictionary<string, string?>(), null);

    private static List<Dictionary<object, object>> Binds(Dictionary<object, object> service) =>
        List(service, "volumes").OfType<Dictionary<object, object>>().Where(v => Text(v, "type") == "bind").ToList();

    private static bool IsUnder(string path, string directory) => path == directory || path.StartsWith(directory.TrimEnd('/') + "/", StringComparison.Ordinal);

    private static string Port(string endpoint) => endpoint[(endpoint.LastIndexOf(':') + 1)..];

    /// <summary>The container ports of HOST_IP:HOST_PORT:CONTAINER_PORT entries, each published on the same host port.</summary>
    private static List<string> Published(Dictionary<object, object> service) => List(service, "ports").Cast<string>().Select(p =>
    {
        var parts = p.Split(':');
        Assert.Equal(parts[^2], parts[^1]);
        return parts[^1];
    }).ToList();
}
