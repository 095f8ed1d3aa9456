using System.Diagnostics;
using System.Net.Sockets;

namespace P2PDist.Tests.Fixtures;

/// <summary>How a test registry authenticates.</summary>
public enum RegistryAuth
{
    None,
    Basic,
    Token,
}

/// <summary>
/// A real CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, with its own storage folder,
/// optionally behind htpasswd basic auth or bearer tokens from <see cref="TokenIssuer"/>.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    public const string User = "tester";
    public const string Password = "s3cret-pass";
    private Process _process;
    private readonly TokenIssuer? _issuer;
    private CountingProxy? _proxy;

    private RegistryServer(Process process, string root, int registryPort, TokenIssuer? issuer)
    {
        _process = process;
        Root = root;
        RegistryPort = registryPort;
        _issuer = issuer;
    }

    public string Root { get; }
    /// <summary>The port clients use: the <see cref="CountingProxy"/> in front of the registry (so loopback shaping on it slows what clients see).</summary>
    public int Port => Proxy.Port;
    /// <summary>host:port for clients; every request goes through the counting proxy.</summary>
    public string Host => Proxy.Host;
    /// <summary>The docker-registry process's own port, behind the proxy.</summary>
    public int RegistryPort { get; }
    public string StorageRoot => Path.Combine(Root, "storage");
    public string LogPath => Path.Combine(Root, "registry.log");
    private CountingProxy Proxy => _proxy ?? throw new InvalidOperationException("the registry's proxy is not started");

    /// <summary>Blob bytes the registry has sent for a repository so far (200 and 206 answers), exact when called: counted by the proxy before the client gets them.</summary>
    public long BlobBytesServed(string repository) => Proxy.BlobBytesServed(repository);

    /// <summary>Every request clients made of the registry so far, with its answer.</summary>
    public IReadOnlyList<ProxiedExchange> Exchanges => Proxy.Exchanges;


    public static async Task<RegistryServer> StartAsync(RegistryAuth auth = RegistryAuth.None)
    {
        string binary = "/usr/bin/docker-registry";
        if (!File.Exists(binary))
            throw new InvalidOperationException("docker-registry is not installed: run the README's test command, which installs it");
        string root = Path.Combine(TestPaths.WorkRoot, "registry-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        int port = FreePort.Next();
        TokenIssuer? issuer = null;
        string authSection = "";
        if (auth == RegistryAuth.Basic)
        {
            var htpasswd = await ProcessRunner.RunCheckedAsync("htpasswd", "-Bbn", User, Password);
            await File.WriteAllTextAsync(Path.Combine(root, "htpasswd"), htpasswd.Stdout);
            authSection = $"auth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n";
        }
        else if (auth == RegistryAuth.Token)
        {
            issuer = TokenIssuer.Start(root, "test-registry", User, Password);
            authSection = $"auth:\n  token:\n    realm: {issuer.Realm}\n    service: test-registry\n    issuer: {TokenIssuer.IssuerName}\n    rootcertbundle: {issuer.CertificatePath}\n";
        }
        string config = $"""
            version: 0.1
            log:
              level: info
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: {root}/storage
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            {authSection}
            """;
        string configPath = Path.Combine(root, "config.yml");
        await File.WriteAllTextAsync(configPath, config.Replace("\n" + new string(' ', 0), "\n"));
        var server = new RegistryServer(Launch(root), root, port, issuer);
        try
        {
            await server.WaitUntilListeningAsync();
            server._proxy = await CountingProxy.StartAsync($"127.0.0.1:{port}");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    private static Process Launch(string root) =>
        LoggedProcess.Start("/usr/bin/docker-registry", ["serve", Path.Combine(root, "config.yml")], Path.Combine(root, "registry.log"));

    /// <summary>Stops the registry and its proxy (for outage tests: clients see connection refused); <see cref="StartAgainAsync"/> brings both back on the same ports and storage.</summary>
    public async Task StopAsync()
    {
        await Proxy.StopAsync();
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async Task StartAgainAsync()
    {
        _process.Dispose();
        _process = Launch(Root);
        await WaitUntilListeningAsync();
        await Proxy.StartAgainAsync();
    }

    private Task WaitUntilListeningAsync() =>
        Eventually.Async(async () =>
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}: {await File.ReadAllTextAsync(LogPath)}");
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", RegistryPort);
            return true;
        }, TimeSpan.FromSeconds(20), $"docker-registry listening on 127.0.0.1:{RegistryPort}", retryOn: e => e is SocketException);

    /// <summary>The path of a blob's data file in the registry's storage (for tests that corrupt it).</summary>
    public string BlobDataPath(string digest)
    {
        string hex = digest["sha256:".Length..];
        return Path.Combine(StorageRoot, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data");
    }

    public bool HasTag(string repository, string tag) =>
        Directory.Exists(Path.Combine(StorageRoot, "docker", "registry", "v2", "repositories", repository, "_manifests", "tags", tag));

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _process.Dispose();
        if (_proxy is not null)
            await _proxy.DisposeAsync();
        _issuer?.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the work root is cleaned on the next run.
        }
    }
}
