using System.Diagnostics;

namespace P2PDist.Tests.Fixtures;

/// <summary>A real `p2pdist peer` daemon process with its own data directory, stopped with SIGTERM (or killed) by the test.</summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private Process _process;
    private readonly List<string> _mountPoints = [];

    private readonly string[] _args;

    private PeerProcess(Process process, string dataDir, string logPath, string[] args, string? metricsAddress)
    {
        _process = process;
        DataDir = dataDir;
        LogPath = logPath;
        _args = args;
        MetricsAddress = metricsAddress;
    }

    /// <summary>ADDRESS:PORT of the daemon's metrics and health endpoints (each test peer gets its own port), or null if off.</summary>
    public string? MetricsAddress { get; }

    /// <summary>The daemon's Prometheus text from its --metrics-listen address.</summary>
    public async Task<string> MetricsAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        return await http.GetStringAsync($"http://{MetricsAddress ?? throw new InvalidOperationException("this peer runs with --metrics-listen off")}/metrics");
    }

    public string DataDir { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;

    public static async Task<PeerProcess> StartAsync(string? dataDir = null, params string[] extraArgs)
    {
        dataDir ??= Path.Combine(TestPaths.NewDirectory("peer"), "data");
        string logPath = Path.Combine(Path.GetDirectoryName(dataDir)!, $"peer-{Guid.NewGuid():N}.log");
        int given = Array.FindIndex(extraArgs, a => a is "--metrics-listen" or "--metrics");
        string? metricsAddress = given >= 0 ? extraArgs[given + 1] : $"127.0.0.1:{FreePort.Next()}";
        if (given < 0)
            extraArgs = [.. extraArgs, "--metrics-listen", metricsAddress];
        if (metricsAddress == "off")
            metricsAddress = null;
        var peer = new PeerProcess(Launch(dataDir, logPath, extraArgs), dataDir, logPath, extraArgs, metricsAddress);
        await peer.WaitForSocketAsync();
        return peer;
    }

    private static Process Launch(string dataDir, string logPath, string[] extraArgs) =>
        LoggedProcess.Start("dotnet", LoggedProcess.P2PDist(["peer", "--data-dir", dataDir, .. extraArgs, .. ClusterPki.InsecureUnlessTls(extraArgs)]), logPath);

    private Task WaitForSocketAsync() =>
        Eventually.Async(async () =>
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"peer exited with {_process.ExitCode}: {await File.ReadAllTextAsync(LogPath)}");
            return await P2PDist.Peer.Daemon.PeerApiClient.IsAliveAsync(Path.Combine(DataDir, "peer.sock"));
        }, TimeSpan.FromSeconds(30), $"the peer (log {LogPath}) to answer on {DataDir}/peer.sock");

    public async Task<string> MountAsync(string reference, params string[] extra)
    {
        string mountPoint = TestPaths.NewDirectory("mnt");
        var result = await P2PDistCli.RunAsync(["mount", reference, mountPoint, "--data-dir", DataDir, "--plain-http", .. extra]);
        Assert.True(result.ExitCode == 0, $"mount failed: {result.Output}\npeer log:\n{await File.ReadAllTextAsync(LogPath)}");
        _mountPoints.Add(mountPoint);
        return mountPoint;
    }

    public Task<ProcessRunner.Result> CliAsync(params string[] args) => P2PDistCli.RunAsync([.. args, "--data-dir", DataDir]);

    /// <summary>Whether the daemon logs <paramref name="text"/> within 10 s (its console logger writes asynchronously).</summary>
    public async Task<bool> LogContainsAsync(string text)
    {
        try
        {
            await Eventually.LogMatchesAsync(LogPath, System.Text.RegularExpressions.Regex.Escape(text), TimeSpan.FromSeconds(10));
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Waits until the daemon has logged <paramref name="text"/>; fails naming it, with the log's tail.</summary>
    public Task WaitForLogAsync(string text, TimeSpan? timeout = null) =>
        Eventually.LogMatchesAsync(LogPath, System.Text.RegularExpressions.Regex.Escape(text), timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Waits until the counters of the mount of <paramref name="reference"/> satisfy <paramref name="until"/>, and returns them.</summary>
    public Task<P2PDist.Peer.Daemon.MountInfo> WaitForMountInfoAsync(string reference, Func<P2PDist.Peer.Daemon.MountInfo, bool> until, string awaited, TimeSpan? timeout = null) =>
        Eventually.Async(() => MountInfoAsync(reference), until, timeout ?? TimeSpan.FromSeconds(30), $"{awaited} (mount of {reference})");

    /// <summary>The counters of the mount of <paramref name="reference"/>, from `p2pdist mounts --json`.</summary>
    public async Task<P2PDist.Peer.Daemon.MountInfo> MountInfoAsync(string reference)
    {
        var result = await CliAsync("mounts", "--json");
        Assert.True(result.ExitCode == 0, result.Output);
        var mounts = System.Text.Json.JsonSerializer.Deserialize<List<P2PDist.Peer.Daemon.MountInfo>>(result.Stdout)!;
        return mounts.Single(m => m.Reference == reference);
    }

    /// <summary>The exit code once the daemon has exited (137 if the fixture had to kill it), else null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async Task RestartAsync()
    {
        _process = Launch(DataDir, LogPath, _args);
        await WaitForSocketAsync();
    }

    public async Task StopAsync()
    {
        if (_process.HasExited)
            return;
        await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var mountPoint in _mountPoints)
            await ProcessRunner.RunAsync("umount", ["-l", mountPoint]); // only matters if the daemon died
        _process.Dispose();
    }
}
