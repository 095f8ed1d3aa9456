using System.Diagnostics;
using System.Net.Sockets;

namespace P2PDist.Tests.Fixtures;

/// <summary>A real `p2pdist supernode` process on a loopback port.</summary>
public sealed class SupernodeProcess : IAsyncDisposable
{
    private Process _process;
    private readonly string[] _args;
    /// <summary>With mutual TLS: the cluster whose peer certificate "test-probe" the test's own probes present.</summary>
    private ClusterPki? _pki;

    private SupernodeProcess(Process process, int port, string logPath, string[] args)
    {
        _process = process;
        Port = port;
        LogPath = logPath;
        _args = args;
    }

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";
    public string LogPath { get; }
    private const string ProbeId = "test-probe";

    /// <summary>Kills the supernode and starts a new one on the same port: it comes back with an empty index.</summary>
    public async Task RestartAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        _process = (await StartAsync(Port, LogPath, _args))._process;
    }

    public static Task<SupernodeProcess> StartAsync(params string[] extraArgs) =>
        StartAsync(FreePort.Next(), Path.Combine(TestPaths.NewDirectory("supernode"), "supernode.log"), extraArgs);

    /// <summary>A supernode of <paramref name="pki"/>'s cluster (mutual TLS); the test's probes present a peer certificate of it.</summary>
    public static async Task<SupernodeProcess> StartAsync(ClusterPki pki, params string[] extraArgs)
    {
        await pki.IssuePeerAsync(ProbeId);
        var supernode = await StartAsync([.. await pki.IssueSupernodeAsync("sn"), .. extraArgs]);
        supernode._pki = pki;
        return supernode;
    }

    private static async Task<SupernodeProcess> StartAsync(int port, string logPath, params string[] extraArgs)
    {
        var process = LoggedProcess.Start("dotnet", LoggedProcess.P2PDist(["supernode", "--listen", $"127.0.0.1:{port}", .. extraArgs, .. ClusterPki.InsecureUnlessTls(extraArgs)]), logPath);
        try
        {
            await Eventually.Async(async () =>
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"supernode exited: {await File.ReadAllTextAsync(logPath)}");
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return true;
            }, TimeSpan.FromSeconds(30), $"the supernode (log {logPath}) to listen on 127.0.0.1:{port}", retryOn: e => e is SocketException);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new SupernodeProcess(process, port, logPath, extraArgs);
    }

    /// <summary>Waits (bounded) until the supernode names a holder of a chunk: announcements are asynchronous.</summary>
    public Task WaitForHolderAsync(string blob, uint ordinal) => WaitForHoldersAsync(blob, [ordinal]);

    /// <summary>Waits until every chunk <c>0 .. chunkCount-1</c> of a blob has at least <paramref name="holders"/> holders.</summary>
    public Task WaitForEveryChunkHeldAsync(string blob, int chunkCount, int holders = 1) =>
        WaitForHoldersAsync(blob, [.. Enumerable.Range(0, chunkCount).Select(i => (uint)i)], holders);

    /// <summary>Waits until each of <paramref name="ordinals"/> has at least <paramref name="holders"/> holders; fails naming the chunks still short.</summary>
    public Task WaitForHoldersAsync(string blob, IReadOnlyList<uint> ordinals, int holders = 1) =>
        Eventually.Async(async () =>
            {
                var counts = new Dictionary<uint, int>();
                foreach (var batch in ordinals.Chunk(4096)) // the supernode's per-query limit
                {
                    foreach (var chunk in (await FindHoldersAsync(blob, batch)).Chunks)
                        counts[chunk.Ordinal] = chunk.Holders.Count;
                }
                return counts;
            },
            counts => ordinals.All(o => counts.GetValueOrDefault(o) >= holders),
            TimeSpan.FromSeconds(20),
            $"{holders}+ holders of chunks {Describe(ordinals)} of {blob}",
            counts => "chunks short of holders: " + string.Join(", ", ordinals.Where(o => counts.GetValueOrDefault(o) < holders).Take(20).Select(o => $"{o} ({counts.GetValueOrDefault(o)})")));

    /// <summary>Waits until the supernode names no holder of a chunk any more (withdrawn, or its holder expired).</summary>
    public Task WaitForNoHolderAsync(string blob, uint ordinal, TimeSpan timeout) =>
        Eventually.Async(() => HoldersAsync(blob, ordinal), holders => holders.Count == 0, timeout,
            $"no holder of chunk {ordinal} of {blob}", holders => "holders: " + string.Join(", ", holders));

    /// <summary>The holders the supernode names for a chunk right now.</summary>
    public async Task<List<string>> HoldersAsync(string blob, uint ordinal) =>
        (await FindHoldersAsync(blob, [ordinal])).Chunks.SelectMany(c => c.Holders).Select(h => h.Address).ToList();

    /// <summary>
    /// Asks as a registered probe (only registered peers may ask) with no_election set: the answer assigns no load
    /// to the holders and elects no one, so watching the supernode does not change whom it ranks first. The probe
    /// registers before each question (the same address only refreshes it): it announces nothing, so it expires.
    /// </summary>
    private async Task<P2PDist.Protos.Scheduler.FindHoldersResponse> FindHoldersAsync(string blob, IEnumerable<uint> ordinals)
    {
        using var channel = _pki is null ? Grpc.Net.Client.GrpcChannel.ForAddress($"http://{Address}") : _pki.Channel(Address, _pki.Certificate(ProbeId));
        var client = new P2PDist.Protos.Scheduler.Scheduler.SchedulerClient(channel);
        await client.RegisterAsync(new P2PDist.Protos.Scheduler.RegisterRequest { PeerId = ProbeId, Address = "127.0.0.1:9" }, deadline: DateTime.UtcNow.AddSeconds(10));
        var request = new P2PDist.Protos.Scheduler.FindHoldersRequest { PeerId = ProbeId, BlobDigest = blob, NoElection = true };
        request.Ordinals.AddRange(ordinals);
        return await client.FindHoldersAsync(request, deadline: DateTime.UtcNow.AddSeconds(10));
    }

    private static string Describe(IReadOnlyList<uint> ordinals) =>
        ordinals.Count <= 8 ? string.Join(", ", ordinals) : $"{ordinals[0]}..{ordinals[^1]} ({ordinals.Count} chunks)";

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
