using System.Text.RegularExpressions;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Real processes on loopback: a registry, a supernode and peers on separate 127.0.2.x addresses.</summary>
public sealed class PeerSwarmTests
{
    private static long RegistryBlobBytes(RegistryServer server, string repository) =>
        File.ReadLines(server.LogPath)
            .Select(l => Regex.Match(l, $@"""GET /v2/{repository}/blobs/\S+ HTTP/1\.1"" 20[06] (\d+)"))
            .Where(m => m.Success)
            .Sum(m => long.Parse(m.Groups[1].Value));

    [Fact]
    public async Task SecondPeer_GetsTheChunksFromTheFirst_NotFromTheRegistry()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(4 << 20, 131);
        string target = await new TestImage().Layer(w => w.File("app/data.bin", content)).PushAndConvertAsync(server.Host, "swarm");
        await using var supernode = await SupernodeProcess.StartAsync();
        await using var first = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.1:{FreePort.Next()}");
        await using var second = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.2:{FreePort.Next()}");

        string firstMount = await first.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(firstMount, "app/data.bin")));
        string secondMount = await second.MountAsync(target);
        await Task.Delay(1000); // announcements are sent as chunks are cached; let them land, and the registry log catch up
        long before = RegistryBlobBytes(server, "swarm");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(secondMount, "app/data.bin")));
        await Task.Delay(500);
        long fromRegistry = RegistryBlobBytes(server, "swarm") - before;
        Assert.True(fromRegistry == 0, $"the second peer made the registry serve {fromRegistry} bytes");
        var mounts = (await second.CliAsync("mounts")).Stdout;
        Assert.Matches(@"\s4,194,304\s*$", mounts.Trim()); // FROM PEERS: the whole file
    }

    [Fact]
    public async Task TamperedCacheOnAPeer_ReaderStillGetsCorrectBytes_FromTheOrigin()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 132);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "tamper");
        await using var supernode = await SupernodeProcess.StartAsync();
        await using var liar = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.3:{FreePort.Next()}");
        await using var reader = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.4:{FreePort.Next()}");
        string liarMount = await liar.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(liarMount, "data.bin")));
        foreach (var chunk in Directory.EnumerateFiles(Path.Combine(liar.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories))
            BadInputTests.FlipByte(chunk, 1000); // bytes changed on disk behind the peer's back

        await Task.Delay(1000);
        string readerMount = await reader.MountAsync(target);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(readerMount, "data.bin")));
        Assert.Contains("discarded a chunk from a peer", await File.ReadAllTextAsync(reader.LogPath));
        Assert.Matches(@"\s0\s*$", (await reader.CliAsync("mounts")).Stdout.Trim()); // nothing accepted from peers
    }
}
