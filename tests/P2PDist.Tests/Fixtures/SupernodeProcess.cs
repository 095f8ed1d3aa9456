using System.Diagnostics;
using System.Net.Sockets;

namespace P2PDist.Tests.Fixtures;

/// <summary>A real `p2pdist supernode` process on a loopback port.</summary>
public sealed class SupernodeProcess : IAsyncDisposable
{
    private Process _process;

    private SupernodeProcess(Process process, int port, string logPath)
    {
        _process = process;
        Port = port;
        LogPath = logPath;
    }

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";
    public string LogPath { get; }

    /// <summary>Kills the supernode and starts a new one on the same port: it comes back with an empty index.</summary>
    public async Task RestartAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        _process = (await StartAsync(Port, LogPath))._process;
    }

    public static Task<SupernodeProcess> StartAsync(params string[] extraArgs) =>
        StartAsync(FreePort.Next(), Path.Combine(TestPaths.NewDirectory("supernode"), "supernode.log"), extraArgs);

    private static async Task<SupernodeProcess> StartAsync(int port, string logPath, params string[] extraArgs)
    {
        var process = LoggedProcess.Start("dotnet", LoggedProcess.P2PDist(["supernode", "--listen", $"127.0.0.1:{port}", .. extraArgs, .. ClusterPki.InsecureUnlessTls(extraArgs)]), logPath);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"supernode exited: {await File.ReadAllTextAsync(logPath)}");
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return new SupernodeProcess(process, port, logPath);
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        process.Kill();
        throw new TimeoutException("supernode did not listen within 30 s");
    }

    /// <summary>Waits (bounded) until the supernode names a holder of a chunk: announcements are asynchronous.</summary>
    public async Task WaitForHolderAsync(string blob, uint ordinal)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{Address}");
        var client = new P2PDist.Protos.Scheduler.Scheduler.SchedulerClient(channel);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            var reply = await client.FindHoldersAsync(new P2PDist.Protos.Scheduler.FindHoldersRequest { PeerId = "test-probe", BlobDigest = blob, Ordinals = { ordinal } },
                deadline: DateTime.UtcNow.AddSeconds(5));
            if (reply.Chunks.Any(c => c.Holders.Count > 0))
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"no peer announced chunk {ordinal} of {blob} within 20 s");
    }

    /// <summary>The holders the supernode names for a chunk right now.</summary>
    public async Task<List<string>> HoldersAsync(string blob, uint ordinal)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{Address}");
        var client = new P2PDist.Protos.Scheduler.Scheduler.SchedulerClient(channel);
        var reply = await client.FindHoldersAsync(new P2PDist.Protos.Scheduler.FindHoldersRequest { PeerId = "test-probe", BlobDigest = blob, Ordinals = { ordinal } },
            deadline: DateTime.UtcNow.AddSeconds(5));
        return reply.Chunks.SelectMany(c => c.Holders).Select(h => h.Address).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
