using System.Diagnostics;
using System.Text;
using Grpc.Core;
using P2PDist.Protos.Scheduler;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Issue 10, "peers and the supernode know who they talk to": a cluster CA, mutual TLS on the control plane
/// (peer and supernode) and the data plane (peer and peer), peer ids bound to certificates (review findings
/// H1, M2, M3, M4). Real processes on 127.0.2.x; certificates made by the real `p2pdist cert`.
/// </summary>
public sealed class MutualTlsTests
{
    private static DateTime Deadline() => DateTime.UtcNow.AddSeconds(5);

    private static async Task<(ClusterPki Pki, SupernodeProcess Supernode)> SupernodeAsync()
    {
        var pki = await ClusterPki.CreateAsync();
        var supernode = await SupernodeProcess.StartAsync(await pki.IssueSupernodeAsync("sn"));
        return (pki, supernode);
    }

    private static async Task<PeerProcess> PeerAsync(ClusterPki pki, string name, SupernodeProcess supernode, string listen, params string[] extra) =>
        await PeerProcess.StartAsync(null, ["--supernode", supernode.Address, "--listen", listen, .. await pki.IssuePeerAsync(name), .. extra]);

    /// <summary>Waits (bounded) until the supernode names a holder of the chunk, asking with a peer certificate of its own.</summary>
    private static async Task WaitForHolderAsync(ClusterPki pki, SupernodeProcess supernode, string blob, uint ordinal)
    {
        const string probe = "probe";
        if (!Directory.Exists(Path.Combine(pki.Dir, probe)))
            await pki.IssuePeerAsync(probe);
        using var channel = pki.Channel(supernode.Address, pki.Certificate(probe));
        var client = new Scheduler.SchedulerClient(channel);
        // Only registered peers may ask (review H1); the probe announces nothing, so it registers before each
        // question (the same address only refreshes it) or it would expire while waiting.
        await Eventually.Async(async () =>
            (await client.RegisterAsync(new RegisterRequest { PeerId = probe, Address = "127.0.0.1:9" }, deadline: Deadline())) is not null &&
            (await client.FindHoldersAsync(new FindHoldersRequest { PeerId = probe, BlobDigest = blob, Ordinals = { ordinal }, NoElection = true }, deadline: Deadline()))
                .Chunks.Any(c => c.Holders.Count > 0), TimeSpan.FromSeconds(20), $"a holder of chunk {ordinal} of {blob}");
    }

    private static string[] CachedChunks(PeerProcess peer) =>
        Directory.EnumerateFiles(Path.Combine(peer.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f)).ToArray();

    [Fact]
    public async Task MutualTls_SecondPeerReadsFromTheFirst_AllFromPeers_M4_NoPlaintextOnTheWire()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] marker = Encoding.ASCII.GetBytes("P2PDIST-PLAINTEXT-MARKER-0451");
        byte[] content = SampleImages.Bytes(4 << 20, 171);
        for (int offset = 0; offset + marker.Length < content.Length; offset += 32 << 10)
            marker.CopyTo(content, offset);
        string target = await new TestImage().Layer(w => w.File("app/data.bin", content)).PushAndConvertAsync(server.Host, "mtls");
        var (pki, supernode) = await SupernodeAsync();
        await using var _ = supernode;
        int port = FreePort.Next();
        await using var first = await PeerAsync(pki, "alpha", supernode, $"127.0.2.61:{port}");
        await using var second = await PeerAsync(pki, "beta", supernode, $"127.0.2.62:{FreePort.Next()}");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await first.MountAsync(target), "app/data.bin")));
        await WaitForHolderAsync(pki, supernode, await P2PDistCli.BlobOfAsync(target), 3);
        string capture = Path.Combine(TestPaths.NewDirectory("capture"), "lo.pcap");
        long before;
        await using (var tcpdump = await PacketCapture.StartAsync(capture, $"tcp and host 127.0.2.61 and port {port}"))
        {
            string secondMount = await second.MountAsync(target); // the bootstrap comes from the registry
            before = server.BlobBytesServed("mtls"); // exact: the registry's proxy counts before it sends
            Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(secondMount, "app/data.bin")));
        }
        Assert.Equal(0, server.BlobBytesServed("mtls") - before);
        Assert.Equal(4L << 20, (await second.MountInfoAsync(target)).BytesFromPeers);
        Assert.True(await ClusterPki.LogContainsAsync(supernode.LogPath, "peer alpha registered at 127.0.2.61", TimeSpan.FromSeconds(30)), "the peer's id is its certificate's name");
        byte[] wire = await File.ReadAllBytesAsync(capture);
        Assert.True(wire.Length > content.Length / 2, $"the capture holds {wire.Length} bytes: the transfer was not captured");
        Assert.True(wire.AsSpan().IndexOf(marker) < 0, "the image's plaintext crossed the wire between the peers");
    }

    [Fact]
    public async Task H1_CallersWithoutAClusterPeerCertificate_AreRefused_AndTheSupernodeKeepsServing()
    {
        var (pki, supernode) = await SupernodeAsync();
        await using var _ = supernode;
        var otherCa = await ClusterPki.CreateAsync();
        await otherCa.IssuePeerAsync("mallory");
        await pki.IssuePeerAsync("alice");
        // No certificate; a peer certificate of another CA; this cluster's supernode certificate (wrong role).
        foreach (var (client, name) in new[] { (null, "mallory"), (otherCa.Certificate("mallory"), "mallory"), (pki.Certificate("sn"), "sn") })
        {
            using var channel = pki.Channel(supernode.Address, client);
            var scheduler = new Scheduler.SchedulerClient(channel);
            await Assert.ThrowsAnyAsync<RpcException>(() => scheduler.RegisterAsync(new RegisterRequest { PeerId = name, Address = "127.0.2.66:7710" }, deadline: Deadline()).ResponseAsync);
            await Assert.ThrowsAnyAsync<RpcException>(() => scheduler.AnnounceAsync(new AnnounceRequest { PeerId = name }, deadline: Deadline()).ResponseAsync);
            await Assert.ThrowsAnyAsync<RpcException>(() => scheduler.ReportAsync(new ReportRequest { PeerId = name, BadPeerId = "alice", Fault = Fault.BadDigest }, deadline: Deadline()).ResponseAsync);
            await Assert.ThrowsAnyAsync<RpcException>(() => scheduler.FindHoldersAsync(new FindHoldersRequest { PeerId = name, BlobDigest = "sha256:" + new string('a', 64), Ordinals = { 0 } }, deadline: Deadline()).ResponseAsync);
        }
        using var good = pki.Channel(supernode.Address, pki.Certificate("alice"));
        var alice = new Scheduler.SchedulerClient(good);
        await alice.RegisterAsync(new RegisterRequest { PeerId = "alice", Address = "127.0.2.67:7710" }, deadline: Deadline());
        var reply = await alice.FindHoldersAsync(new FindHoldersRequest { PeerId = "alice", BlobDigest = "sha256:" + new string('b', 64), Ordinals = { 0 } }, deadline: Deadline());
        Assert.True(reply.Chunks.Single().FetchFromOrigin, "a certified, registered peer is elected for an unheld chunk");
    }

    [Fact]
    public async Task H1_PeerCertifiedAsAlice_CannotRegisterAnnounceReportOrAskAsBob()
    {
        var (pki, supernode) = await SupernodeAsync();
        await using var _ = supernode;
        await pki.IssuePeerAsync("alice");
        await pki.IssuePeerAsync("bob");
        using var bobChannel = pki.Channel(supernode.Address, pki.Certificate("bob"));
        var bob = new Scheduler.SchedulerClient(bobChannel);
        await bob.RegisterAsync(new RegisterRequest { PeerId = "bob", Address = "127.0.2.68:7710" }, deadline: Deadline());
        using var aliceChannel = pki.Channel(supernode.Address, pki.Certificate("alice"));
        var alice = new Scheduler.SchedulerClient(aliceChannel);
        string blob = "sha256:" + new string('c', 64);

        var refusals = new List<RpcException>
        {
            await Assert.ThrowsAsync<RpcException>(() => alice.RegisterAsync(new RegisterRequest { PeerId = "bob", Address = "127.0.2.69:7710" }, deadline: Deadline()).ResponseAsync),
            await Assert.ThrowsAsync<RpcException>(() => alice.AnnounceAsync(new AnnounceRequest { PeerId = "bob" }, deadline: Deadline()).ResponseAsync),
            await Assert.ThrowsAsync<RpcException>(() => alice.ReportAsync(new ReportRequest { PeerId = "bob", BadPeerId = "bob", Fault = Fault.BadDigest }, deadline: Deadline()).ResponseAsync),
            await Assert.ThrowsAsync<RpcException>(() => alice.FindHoldersAsync(new FindHoldersRequest { PeerId = "bob", BlobDigest = blob, Ordinals = { 0 } }, deadline: Deadline()).ResponseAsync),
        };
        Assert.All(refusals, e =>
        {
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains("'bob'", e.Status.Detail);
            Assert.Contains("peer alice", e.Status.Detail);
        });
        // Bob is still registered at his own address, and alice was not elected in his name.
        var announce = await bob.AnnounceAsync(new AnnounceRequest { PeerId = "bob" }, deadline: Deadline());
        Assert.True(announce.Known);
        var reply = await bob.FindHoldersAsync(new FindHoldersRequest { PeerId = "bob", BlobDigest = blob, Ordinals = { 0 } }, deadline: Deadline());
        Assert.True(reply.Chunks.Single().FetchFromOrigin, "bob is elected: nobody else asked in his name");
    }

    [Fact]
    public async Task M2_ChunkRequestWithoutAClusterPeerCertificate_FailsTheHandshake()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(1 << 20, 172);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "mtls-chunks");
        var (pki, supernode) = await SupernodeAsync();
        await using var _ = supernode;
        string listen = $"127.0.2.63:{FreePort.Next()}";
        await using var holder = await PeerAsync(pki, "holder", supernode, listen);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        string chunk = CachedChunks(holder).Single();
        var otherCa = await ClusterPki.CreateAsync();
        await otherCa.IssuePeerAsync("mallory");
        await pki.IssuePeerAsync("friend");

        foreach (var client in new[] { null, otherCa.Certificate("mallory"), pki.Certificate("sn") })
        {
            using var http = pki.ChunkClient(client);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"https://{listen}/v1/chunks/{chunk}"));
        }
        using (var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync($"http://{listen}/v1/chunks/{chunk}"));
        using var friend = pki.ChunkClient(pki.Certificate("friend"));
        Assert.Equal(content.Length, (await friend.GetByteArrayAsync($"https://{listen}/v1/chunks/{chunk}")).Length);
    }

    [Fact]
    public async Task M3_SlowReaderIsCutOff_ItsSlotsReleased_AndOneClientHoldsAtMostItsShare()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(8 << 20, 173);
        string source = await new TestImage().Layer(w => w.File("data.bin", content)).PushAsync(server.Host, "mtls-slow", "v1");
        string target = $"{server.Host}/mtls-slow:rafs";
        // One 8 MiB chunk: more than the holder's send buffer can take (tcp_wmem tops out at 4 MiB), so a slow
        // reader really holds its upload; a 4 MiB chunk sometimes fit in the kernel's buffers and was never cut off.
        await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http", "--chunk-size", "8M");
        var (pki, supernode) = await SupernodeAsync();
        await using var _ = supernode;
        string listen = $"127.0.2.64:{FreePort.Next()}";
        // 4 slots, 2 per client; an 8 MiB upload must be read within 2 s + 8 s.
        string metrics = $"127.0.2.64:{FreePort.Next()}";
        await using var holder = await PeerAsync(pki, "holder", supernode, listen, "--upload-slots", "4", "--upload-min-rate", "1M", "--metrics", metrics);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        string chunk = CachedChunks(holder).First();
        await pki.IssuePeerAsync("slowpoke");
        using var slowpoke = pki.Certificate("slowpoke");
        var (host, port) = (listen.Split(':')[0], int.Parse(listen.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));

        var held = new List<SlowChunkReader>();
        using var stopReading = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            for (int i = 0; i < 3; i++)
                held.Add(await SlowChunkReader.StartAsync(host, port, chunk, pki.ClientOptions(slowpoke)));
            Assert.Equal(["200", "200", "503"], held.Select(r => r.Status)); // its share is 2 of the 4 slots
            var reading = held.Take(2).Select(r => r.ReadSlowlyAsync(bytesPerSecond: 300, stopReading.Token)).ToList();
            // Both of its uploads are cut off (budget 10 s each) and their slots released. (A cut-off used to be
            // counted as the client going away whenever Kestrel had already aborted the connection on the cancelled
            // write; UploadDeadlineTests pins that down.)
            await MetricsScrape.WaitForAsync(metrics, "p2pdist_peer_uploads_cut_off_total", v => v >= 2, "both slow uploads of the reader to be cut off",
                TimeSpan.FromSeconds(60));
            // Its slots came back while its connections are still open: the same client is served again.
            await using (var again = await SlowChunkReader.StartAsync(host, port, chunk, pki.ClientOptions(slowpoke)))
                Assert.Equal("200", again.Status);
            await stopReading.CancelAsync();
            long[] got = await Task.WhenAll(reading);
            Assert.All(got, bytes => Assert.True(bytes < 8 << 20, $"the slow reader got the whole chunk ({bytes} bytes)"));
        }
        finally
        {
            foreach (var reader in held)
                await reader.DisposeAsync();
        }
        Assert.True(await holder.LogContainsAsync("HTTPS, peers of this cluster only"), "the chunk listener runs mutual TLS");

        // And a real peer still gets every byte from the holder.
        await using var reader2 = await PeerAsync(pki, "reader", supernode, $"127.0.2.65:{FreePort.Next()}");
        string mount = await reader2.MountAsync(target);
        await WaitForHolderAsync(pki, supernode, await P2PDistCli.BlobOfAsync(target), 0); // the image's one 8 MiB chunk
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mount, "data.bin")));
        Assert.Equal(8L << 20, (await reader2.MountInfoAsync(target)).BytesFromPeers);
    }

    [Fact]
    public async Task NoTlsSettings_DaemonsRefuseToStart_UnlessInsecure()
    {
        var peer = await P2PDistCli.RunAsync(TimeSpan.FromSeconds(60), "peer", "--data-dir", Path.Combine(TestPaths.NewDirectory("peer"), "data"),
            "--listen", $"127.0.2.70:{FreePort.Next()}");
        Assert.NotEqual(0, peer.ExitCode);
        Assert.Contains("--insecure", peer.Output);
        var supernode = await P2PDistCli.RunAsync(TimeSpan.FromSeconds(60), "supernode", "--listen", $"127.0.0.1:{FreePort.Next()}");
        Assert.NotEqual(0, supernode.ExitCode);
        Assert.Contains("--tls-cert, --tls-key and --tls-ca", supernode.Output);
        await using var insecure = await SupernodeProcess.StartAsync();
        Assert.True(await LogContainsAsync(insecure.LogPath, "--insecure: serving plain h2c"), "insecure mode is logged as a warning");
    }

    private static Task<bool> LogContainsAsync(string path, string text) => ClusterPki.LogContainsAsync(path, text, TimeSpan.FromSeconds(10));
}
