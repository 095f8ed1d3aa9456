namespace P2PDist.Tests.Fixtures;

/// <summary>Several peer processes of one swarm, on 127.x.y.1, .2, ...; disposing stops them all.</summary>
public sealed class PeerSwarm : IAsyncDisposable
{
    private readonly List<PeerProcess> _peers = [];

    public IReadOnlyList<PeerProcess> Peers => _peers;

    public PeerProcess this[int index] => _peers[index];

    /// <param name="subnet">The first three parts of the peers' addresses, e.g. "127.0.3".</param>
    public static async Task<PeerSwarm> StartAsync(int count, string supernode, string subnet, params string[] extraArgs)
    {
        var swarm = new PeerSwarm();
        try
        {
            for (int i = 0; i < count; i++)
                swarm._peers.Add(await PeerProcess.StartAsync(null, ["--supernode", supernode, "--listen", $"{subnet}.{i + 1}:{FreePort.Next()}", .. extraArgs]));
            return swarm;
        }
        catch
        {
            await swarm.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var peer in _peers)
            await peer.DisposeAsync();
    }
}
