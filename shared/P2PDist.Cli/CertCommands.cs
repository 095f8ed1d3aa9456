using System.CommandLine;
using System.Net;
using P2PDist.Rafs;
using P2PDist.Security;

namespace P2PDist.Cli;

/// <summary>`p2pdist cert init-ca` and `p2pdist cert issue`: the cluster CA and the peer and supernode certificates it signs.</summary>
internal static class CertCommands
{
    public static Command Create()
    {
        var command = new Command("cert", "The cluster CA and the certificates of peers and supernodes (mutual TLS)");
        command.Subcommands.Add(InitCa());
        command.Subcommands.Add(Issue());
        return command;
    }

    private static Command InitCa()
    {
        var dir = new Option<string>("--dir") { Description = "Directory to write ca.crt and ca.key (0600) to; existing files are never overwritten", Required = true };
        var command = new Command("init-ca", "Create the cluster CA (ECDSA P-256, 10 years)") { dir };
        command.SetAction(parse =>
        {
            var (cert, key) = ClusterCertificates.InitCa(Path.GetFullPath(parse.GetValue(dir)!));
            Console.WriteLine($"wrote {cert} and {key}");
            return 0;
        });
        return command;
    }

    private static Command Issue()
    {
        var caDir = new Option<string>("--ca-dir") { Description = "Directory holding ca.crt and ca.key (from init-ca)", Required = true };
        var peer = new Option<string?>("--peer") { Description = "Issue a peer certificate; NAME becomes the peer's id in the swarm" };
        var supernode = new Option<string?>("--supernode") { Description = "Issue a supernode certificate named NAME" };
        var ips = new Option<string?>("--ip") { Description = "IP addresses the certificate is valid for, A[,B...] (a supernode needs the address peers dial)" };
        var dns = new Option<string?>("--dns") { Description = "DNS names the certificate is valid for, H[,H...]" };
        var days = new Option<int>("--days") { Description = "Validity in days (default 365)", DefaultValueFactory = _ => 365 };
        var outDir = new Option<string>("--out") { Description = "Directory to write NAME.crt, NAME.key (0600) and ca.crt to", Required = true };
        var command = new Command("issue", "Issue a peer or supernode certificate signed by the cluster CA") { caDir, peer, supernode, ips, dns, days, outDir };
        command.SetAction(parse =>
        {
            string? peerName = parse.GetValue(peer), supernodeName = parse.GetValue(supernode);
            if ((peerName is null) == (supernodeName is null))
                throw new P2PDistException("cert issue: give exactly one of --peer NAME and --supernode NAME");
            var identity = peerName is not null
                ? new ClusterIdentity(ClusterRole.Peer, ClusterIdentity.ValidateName(peerName, "--peer"))
                : new ClusterIdentity(ClusterRole.Supernode, ClusterIdentity.ValidateName(supernodeName, "--supernode"));
            if (parse.GetValue(days) is < 1 or > 3650)
                throw new P2PDistException($"--days {parse.GetValue(days)} must be between 1 and 3650");
            var (cert, key) = ClusterCertificates.Issue(Path.GetFullPath(parse.GetValue(caDir)!), identity, ParseIps(parse.GetValue(ips)),
                ParseDns(parse.GetValue(dns)), Path.GetFullPath(parse.GetValue(outDir)!), TimeSpan.FromDays(parse.GetValue(days)));
            Console.WriteLine($"wrote {cert} and {key} for {identity}");
            return 0;
        });
        return command;
    }

    private static IEnumerable<IPAddress> ParseIps(string? text) =>
        Split(text).Select(a => IPAddress.TryParse(a, out var ip) ? ip : throw new P2PDistException($"--ip: '{a}' is not an IP address")).ToList();

    private static IEnumerable<string> ParseDns(string? text) =>
        Split(text).Select(h => Uri.CheckHostName(h) == UriHostNameType.Dns ? h : throw new P2PDistException($"--dns: '{h}' is not a DNS name")).ToList();

    private static string[] Split(string? text) => text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
}
