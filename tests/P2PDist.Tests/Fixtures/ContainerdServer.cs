using System.Diagnostics;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A real containerd 1.6 (Debian's package, with runc) of the test's own: its own root, state and sockets, so
/// it never meets a system containerd, and optionally the peer's snapshotter as proxy plugin <c>p2pdist</c>
/// (also the CRI plugin's snapshotter, with the snapshot annotations CRI needs for lazy pulls).
/// </summary>
public sealed class ContainerdServer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _configPath;
    private readonly string _socketDirectory;
    private Process _process;

    private ContainerdServer(string directory, string socketDirectory, string configPath, Process process)
    {
        _directory = directory;
        _socketDirectory = socketDirectory;
        _configPath = configPath;
        _process = process;
    }

    public string Address => Path.Combine(_socketDirectory, "containerd.sock");
    public string Root => Path.Combine(_directory, "root");
    public string State => Path.Combine(_socketDirectory, "state");
    public string LogPath => Path.Combine(_directory, "containerd.log");

    public string Log() => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";

    /// <param name="plainHttpRegistries">Registries CRI reaches over plain HTTP (host:port), as mirrors with an http endpoint.</param>
    public static async Task<ContainerdServer> StartAsync(string? proxySnapshotterSocket = null, params string[] plainHttpRegistries)
    {
        string directory = TestPaths.NewDirectory("containerd");
        // Socket paths are limited to 107 bytes: the sockets and runtime state live under a short /run directory.
        string socketDirectory = Directory.CreateDirectory($"/run/p2pdist-test-ctrd-{Guid.NewGuid():N}"[..34]).FullName;
        string configPath = Path.Combine(directory, "config.toml");
        var config = new List<string>
        {
            "version = 2",
            $"root = \"{Path.Combine(directory, "root")}\"",
            $"state = \"{Path.Combine(socketDirectory, "state")}\"",
            "[grpc]",
            $"  address = \"{Path.Combine(socketDirectory, "containerd.sock")}\"",
            "[ttrpc]",
            $"  address = \"{Path.Combine(socketDirectory, "containerd.sock.ttrpc")}\"",
            "[debug]",
            "  level = \"debug\"",
        };
        if (proxySnapshotterSocket is not null)
        {
            config.AddRange(
            [
                "[proxy_plugins.p2pdist]",
                "  type = \"snapshot\"",
                $"  address = \"{proxySnapshotterSocket}\"",
                "[plugins.\"io.containerd.grpc.v1.cri\".containerd]",
                "  snapshotter = \"p2pdist\"",
                "  disable_snapshot_annotations = false",
            ]);
        }
        foreach (string registry in plainHttpRegistries)
        {
            config.Add($"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{registry}\"]");
            config.Add($"  endpoint = [\"http://{registry}\"]");
        }
        await File.WriteAllLinesAsync(configPath, config);
        var server = new ContainerdServer(directory, socketDirectory, configPath, Launch(configPath, Path.Combine(directory, "containerd.log")));
        try
        {
            await server.WaitUntilAnsweringAsync();
        }
        catch
        {
            // The caller never gets the server to dispose: a containerd that did not come up must not outlive the test.
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    private static Process Launch(string configPath, string logPath) => LoggedProcess.Start("containerd", ["--config", configPath], logPath);

    private Task WaitUntilAnsweringAsync() => Eventually.Async(async () =>
    {
        if (_process.HasExited)
            throw new InvalidOperationException($"containerd exited with {_process.ExitCode}: {Tail(Log())}");
        return File.Exists(Address) && (await CtrAsync("version")).ExitCode == 0;
    }, TimeSpan.FromSeconds(60), $"containerd to answer on {Address}", () => "containerd log tail:\n" + Tail(Log()));

    public Task<ProcessRunner.Result> CtrAsync(params string[] args) =>
        ProcessRunner.RunAsync("ctr", ["--address", Address, .. args], TimeSpan.FromMinutes(3));

    public async Task<ProcessRunner.Result> CtrOkAsync(params string[] args)
    {
        var result = await CtrAsync(args);
        Assert.True(result.ExitCode == 0, $"ctr {string.Join(' ', args)} exited {result.ExitCode}: {result.Output}\ncontainerd log:\n{Tail(Log())}");
        return result;
    }

    /// <summary>Stops containerd (its containers' shims keep running, as on a real node) and starts it again on the same root and state.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        _process = Launch(_configPath, LogPath);
        await WaitUntilAnsweringAsync();
    }

    /// <summary>
    /// SIGTERM first, so containerd closes its metadata database and its proxy plugin connections as on a node's
    /// restart; SIGKILL only if it hangs. Either signal goes to containerd alone: the shims must keep the containers.
    /// </summary>
    private async Task StopAsync()
    {
        if (_process.HasExited)
            return;
        await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                foreach (string ns in new[] { "default", "k8s.io" })
                {
                    var tasks = await CtrAsync("-n", ns, "task", "ls", "-q");
                    foreach (string id in tasks.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    {
                        await CtrAsync("-n", ns, "task", "kill", "-s", "KILL", id);
                        await Eventually.Async(async () => (await CtrAsync("-n", ns, "task", "delete", id)).ExitCode == 0, TimeSpan.FromSeconds(30), $"task {id} to end");
                    }
                }
            }
        }
        catch (Exception)
        {
            // Best effort, as every step below: a dispose that throws would hide the test's own failure, and the
            // mounts are cleared whatever the tasks did.
        }
        try
        {
            await StopAsync();
        }
        catch (Exception)
        {
        }
        // Whatever containerd mounted (container roots, snapshot mounts) under its directories, deepest first.
        List<string> mounted;
        try
        {
            mounted = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
                .Where(m => m.StartsWith(_directory + "/", StringComparison.Ordinal) || m.StartsWith(_socketDirectory + "/", StringComparison.Ordinal))
                .OrderByDescending(m => m.Count(c => c == '/')).ThenByDescending(m => m.Length).ToList();
        }
        catch (Exception)
        {
            mounted = [];
        }
        foreach (string mountPoint in mounted)
        {
            try
            {
                await ProcessRunner.RunAsync("umount", ["-l", mountPoint], TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
            }
        }
        foreach (string directory in new[] { _socketDirectory, _directory })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static string Tail(string log) => log.Length <= 4000 ? log : log[^4000..];
}
