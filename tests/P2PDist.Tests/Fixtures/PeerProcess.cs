using System.Diagnostics;

namespace P2PDist.Tests.Fixtures;

/// <summary>A real `p2pdist peer` daemon process with its own data directory, stopped with SIGTERM (or killed) by the test.</summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private Process _process;
    private readonly List<string> _mountPoints = [];

    private PeerProcess(Process process, string dataDir, string logPath)
    {
        _process = process;
        DataDir = dataDir;
        LogPath = logPath;
    }

    public string DataDir { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;

    public static async Task<PeerProcess> StartAsync(string? dataDir = null, params string[] extraArgs)
    {
        dataDir ??= Path.Combine(TestPaths.NewDirectory("peer"), "data");
        string logPath = Path.Combine(Path.GetDirectoryName(dataDir)!, $"peer-{Guid.NewGuid():N}.log");
        var peer = new PeerProcess(Launch(dataDir, logPath, extraArgs), dataDir, logPath);
        await peer.WaitForSocketAsync();
        return peer;
    }

    private static Process Launch(string dataDir, string logPath, string[] extraArgs) =>
        LoggedProcess.Start("dotnet", LoggedProcess.P2PDist(["peer", "--data-dir", dataDir, .. extraArgs, .. ClusterPki.InsecureUnlessTls(extraArgs)]), logPath);

    private async Task WaitForSocketAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"peer exited with {_process.ExitCode}: {await File.ReadAllTextAsync(LogPath)}");
            if (await P2PDist.Peer.Daemon.PeerApiClient.IsAliveAsync(Path.Combine(DataDir, "peer.sock")))
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"peer did not answer within 30 s: {await File.ReadAllTextAsync(LogPath)}");
    }

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
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if ((await File.ReadAllTextAsync(LogPath)).Contains(text, StringComparison.Ordinal))
                return true;
            await Task.Delay(100);
        }
        return false;
    }

    /// <summary>The counters of the mount of <paramref name="reference"/>, from `p2pdist mounts --json`.</summary>
    public async Task<P2PDist.Peer.Daemon.MountInfo> MountInfoAsync(string reference)
    {
        var result = await CliAsync("mounts", "--json");
        Assert.True(result.ExitCode == 0, result.Output);
        var mounts = System.Text.Json.JsonSerializer.Deserialize<List<P2PDist.Peer.Daemon.MountInfo>>(result.Stdout)!;
        return mounts.Single(m => m.Reference == reference);
    }

    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async Task RestartAsync()
    {
        _process = Launch(DataDir, LogPath, []);
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
