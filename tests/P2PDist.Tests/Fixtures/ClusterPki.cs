using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A cluster CA made by the real CLI (`p2pdist cert init-ca`) in a fresh directory, and the certificates it
/// issues (`p2pdist cert issue`), with the flags that hand them to a peer or a supernode.
/// </summary>
public sealed class ClusterPki
{
    private ClusterPki(string dir) => Dir = dir;

    public string Dir { get; }
    public string CaDir => Path.Combine(Dir, "ca");
    public string CaFile => Path.Combine(CaDir, "ca.crt");

    /// <summary>Fixture processes run plain text unless a test hands them certificates.</summary>
    public static string[] InsecureUnlessTls(string[] args) => args.Contains("--tls-cert") ? [] : ["--insecure"];

    /// <summary>
    /// Whether a daemon logs <paramref name="text"/> within <paramref name="within"/>. A first registration over mutual TLS
    /// can outlast the peer's 5 s call deadline on a loaded machine; the peer then registers again from its announcer.
    /// </summary>
    public static async Task<bool> LogContainsAsync(string path, string text, TimeSpan within)
    {
        try
        {
            await Eventually.LogMatchesAsync(path, System.Text.RegularExpressions.Regex.Escape(text), within);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public static async Task<ClusterPki> CreateAsync()
    {
        var pki = new ClusterPki(TestPaths.NewDirectory("pki"));
        await P2PDistCli.RunOkAsync("cert", "init-ca", "--dir", pki.CaDir);
        return pki;
    }

    public Task<string[]> IssuePeerAsync(string name) => IssueAsync("--peer", name);

    /// <summary>A supernode certificate valid for 127.0.0.1, the address the fixture's supernodes listen on.</summary>
    public Task<string[]> IssueSupernodeAsync(string name) => IssueAsync("--supernode", name, "--ip", "127.0.0.1");

    /// <summary>Issues the certificate; returns the daemon flags (--tls-cert, --tls-key, --tls-ca) that use it.</summary>
    private async Task<string[]> IssueAsync(string role, string name, params string[] extra)
    {
        string outDir = Path.Combine(Dir, name);
        await P2PDistCli.RunOkAsync(["cert", "issue", "--ca-dir", CaDir, role, name, "--out", outDir, .. extra]);
        return ["--tls-cert", Path.Combine(outDir, name + ".crt"), "--tls-key", Path.Combine(outDir, name + ".key"), "--tls-ca", Path.Combine(outDir, "ca.crt")];
    }

    /// <summary>The certificate (with its key) issued as <paramref name="name"/>.</summary>
    public X509Certificate2 Certificate(string name) =>
        X509Certificate2.CreateFromPemFile(Path.Combine(Dir, name, name + ".crt"), Path.Combine(Dir, name, name + ".key"));

    /// <summary>Accepts a server certificate only when it chains to this CA.</summary>
    public bool TrustsServer(X509Certificate? certificate)
    {
        if (certificate is null)
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(X509Certificate2.CreateFromPem(File.ReadAllText(CaFile)));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(new X509Certificate2(certificate));
    }

    /// <summary>TLS client settings that trust this CA and present <paramref name="client"/> (none when null).</summary>
    public SslClientAuthenticationOptions ClientOptions(X509Certificate2? client) => new()
    {
        TargetHost = "127.0.0.1",
        ClientCertificates = client is null ? null : new X509CertificateCollection { client },
        RemoteCertificateValidationCallback = (_, certificate, _, _) => TrustsServer(certificate),
    };

    /// <summary>A gRPC channel to a mutual-TLS supernode, presenting <paramref name="client"/>.</summary>
    public GrpcChannel Channel(string address, X509Certificate2? client) =>
        GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { SslOptions = ClientOptions(client) } });

    /// <summary>An HTTP client for a peer's HTTPS chunk listener, presenting <paramref name="client"/>.</summary>
    public HttpClient ChunkClient(X509Certificate2? client) =>
        new(new SocketsHttpHandler { SslOptions = ClientOptions(client), ConnectTimeout = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(30) };
}
