using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using P2PDist.Protos.Scheduler;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Faults in the swarm, with real processes on loopback: peers that stall or vanish mid-transfer, hostile
/// messages to the supernode; and the swarm's limits and operations: upload limits, eviction withdrawals,
/// Prometheus metrics, TLS to the supernode.
/// </summary>
public sealed class SwarmFaultTests
{
    [Theory]
    [InlineData(FakePeer.Behaviour.StallMidTransfer, "no progress for 5 s", "framed")]
    [InlineData(FakePeer.Behaviour.DropMidTransfer, "failed for chunk", "framed")]
    [InlineData(FakePeer.Behaviour.StallMidTransfer, "no progress for 5 s", "http")]
    [InlineData(FakePeer.Behaviour.DropMidTransfer, "failed for chunk", "http")]
    public async Task PeerFailingMidTransfer_ReadFinishesCorrectlyFromTheOrigin_AndTheFaultIsReported(FakePeer.Behaviour behaviour, string logged, string protocol)
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 141 + (int)behaviour);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, $"midtransfer{(int)behaviour}{protocol}");
        await using var supernode = await SupernodeProcess.StartAsync();
        await using var fake = await FakePeer.StartAsync(supernode.Address, IPAddress.Parse("127.0.2.30"), behaviour, await P2PDistCli.BlobOfAsync(target), 2);
        await using var reader = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.31:{FreePort.Next()}", "--peer-protocol", protocol);

        string mount = await reader.MountAsync(target);
        var clock = Stopwatch.StartNew();
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(mount, "data.bin")));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"the read took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(fake.Requests > 0, "the reader never asked the fake peer");
        Assert.True(await reader.LogContainsAsync(logged), $"expected in the peer log: {logged}");
        Assert.Equal(0, (await reader.MountInfoAsync(target)).BytesFromPeers);
        Assert.Contains($"reported {fake.PeerId} for Timeout", await File.ReadAllTextAsync(supernode.LogPath));
    }

    [Fact]
    public async Task RealPeerKilledWhileServing_ReadFinishesCorrectlyFromTheOrigin()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 147);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "killed-serving");
        await using var supernode = await SupernodeProcess.StartAsync();
        // The holder serves at 128 KiB/s, so each 1 MiB chunk is still in flight when it is killed.
        string holderListen = $"127.0.2.32:{FreePort.Next()}";
        await using var holder = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", holderListen, "--upload-rate", "128K");
        await using var reader = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.33:{FreePort.Next()}");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        await supernode.WaitForEveryChunkHeldAsync(await P2PDistCli.BlobOfAsync(target), 2);

        string mount = await reader.MountAsync(target);
        var read = File.ReadAllBytesAsync(Path.Combine(mount, "data.bin"));
        // Killed only once the holder is sending (2 MiB at 128 KiB/s takes 16 s): a kill before the reader connected would prove nothing.
        double uploadedAtKill = await MetricsScrape.WaitForAsync(holder.MetricsAddress!, "p2pdist_peer_uploaded_bytes_total", v => v > 0, "the holder to be uploading to the reader");
        holder.Kill();
        Assert.True(uploadedAtKill < content.Length, $"the holder had already sent {uploadedAtKill:N0} bytes");
        Assert.Equal(content, await read.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(await reader.LogContainsAsync("failed for chunk"), "the broken transfer should be logged");
        var info = await reader.MountInfoAsync(target);
        Assert.True(info.BytesFromPeers < content.Length, $"the killed peer cannot have sent everything: {info.BytesFromPeers:N0} bytes from peers");
    }

    [Fact]
    public async Task HostileMessages_AreRefusedByName_AndTheSupernodeKeepsServing()
    {
        int metricsPort = FreePort.Next();
        await using var supernode = await SupernodeProcess.StartAsync("--metrics", $"127.0.0.1:{metricsPort}");
        using var channel = GrpcChannel.ForAddress($"http://{supernode.Address}");
        var client = new Scheduler.SchedulerClient(channel);
        DateTime Deadline() => DateTime.UtcNow.AddSeconds(5);
        string blob = "sha256:" + new string('a', 64);
        await client.RegisterAsync(new RegisterRequest { PeerId = "good", Address = "127.0.2.40:7710" }, deadline: Deadline());

        async Task RefusedAsync(Func<Task> call, string expected)
        {
            var error = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(expected, error.Status.Detail);
        }
        await RefusedAsync(() => client.RegisterAsync(new RegisterRequest { PeerId = "neg", Address = "127.0.2.41:7710", UploadCapacityBytesPerSecond = -5 }, deadline: Deadline()).ResponseAsync,
            "upload_capacity_bytes_per_second -5 is negative");
        await RefusedAsync(() => client.RegisterAsync(new RegisterRequest { PeerId = "", Address = "127.0.2.41:7710" }, deadline: Deadline()).ResponseAsync, "peer id");
        await RefusedAsync(() => client.RegisterAsync(new RegisterRequest { PeerId = "x", Address = "not an address" }, deadline: Deadline()).ResponseAsync, "is not ip:port");
        var huge = new FindHoldersRequest { PeerId = "good", BlobDigest = blob };
        huge.Ordinals.AddRange(Enumerable.Range(0, 100_000).Select(i => (uint)i));
        await RefusedAsync(() => client.FindHoldersAsync(huge, deadline: Deadline()).ResponseAsync, "at most 4096 ordinals");
        await RefusedAsync(() => client.FindHoldersAsync(new FindHoldersRequest { PeerId = "good", BlobDigest = "sha256:nothex", Ordinals = { 0 } }, deadline: Deadline()).ResponseAsync,
            "is not a blob digest");
        await RefusedAsync(() => client.FindHoldersAsync(new FindHoldersRequest { PeerId = "good", BlobDigest = blob, Ordinals = { uint.MaxValue } }, deadline: Deadline()).ResponseAsync,
            "exceeds the limit");
        // A range past the limit, and unpaired starts/lengths: refused, and nothing of the message is applied.
        var tooFar = new AnnounceRequest { PeerId = "good" };
        tooFar.Added.Add(new OrdinalRanges { BlobDigest = blob, Starts = { 0, 1 }, Lengths = { 1, uint.MaxValue } }); // a good range, then one too far
        await RefusedAsync(() => client.AnnounceAsync(tooFar, deadline: Deadline()).ResponseAsync, "exceed the limit");
        await RefusedAsync(() => client.AnnounceAsync(new AnnounceRequest { PeerId = "good", Added = { new OrdinalRanges { BlobDigest = blob, Starts = { 1, 2 }, Lengths = { 1 } } } },
            deadline: Deadline()).ResponseAsync, "must pair up");
        Assert.Empty(await supernode.HoldersAsync(blob, 0));
        await RefusedAsync(() => client.ReportAsync(new ReportRequest { PeerId = "good", BadPeerId = "good", Fault = (Fault)99 }, deadline: Deadline()).ResponseAsync, "fault");

        // An unknown peer id: told to register (announce), refused by name (report); never elected.
        Assert.False((await client.AnnounceAsync(new AnnounceRequest { PeerId = "stranger" }, deadline: Deadline())).Known);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => client.ReportAsync(new ReportRequest { PeerId = "stranger", BadPeerId = "good", Fault = Fault.Timeout }, deadline: Deadline()).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("stranger", unknown.Status.Detail);
        // Only a registered peer may ask (review H1/L6): a stranger learns nothing and is elected for nothing.
        var strangerQuery = await Assert.ThrowsAsync<RpcException>(() => client.FindHoldersAsync(new FindHoldersRequest { PeerId = "stranger", BlobDigest = blob, Ordinals = { 0 } }, deadline: Deadline()).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, strangerQuery.StatusCode);

        // Still serving: a good announcement is indexed; an unknown blob has no holders.
        await client.AnnounceAsync(new AnnounceRequest { PeerId = "good", Added = { new OrdinalRanges { BlobDigest = blob, Starts = { 0 }, Lengths = { 4 } } } }, deadline: Deadline());
        Assert.Equal(["127.0.2.40:7710"], await supernode.HoldersAsync(blob, 3));
        Assert.Empty(await supernode.HoldersAsync("sha256:" + new string('b', 64), 0));
        Assert.Contains("refused a message", await File.ReadAllTextAsync(supernode.LogPath));
        string metrics = await MetricsScrape.TextAsync($"127.0.0.1:{metricsPort}");
        Assert.Equal(9, MetricsScrape.Value(metrics, "p2pdist_supernode_rejected_messages_total")); // the nine RefusedAsync calls above, each counted once
        Assert.Equal(2, MetricsScrape.Value(metrics, "p2pdist_supernode_peers")); // "good" and the test's own registered probe
    }

    [Fact]
    public async Task UploadLimits_BusySlotsAnswer503_AndTheRateIsKept()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 143);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "uploadlimits");
        await using var supernode = await SupernodeProcess.StartAsync();
        string listen = $"127.0.2.42:{FreePort.Next()}";
        await using var holder = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", listen, "--upload-slots", "1", "--upload-rate", "256K");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        string[] chunks = Directory.EnumerateFiles(Path.Combine(holder.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToArray()!;
        Assert.Equal(2, chunks.Length);
        const string Active = "p2pdist_peer_uploads_active";

        // A client (so a connection) per request: what is tested is the slot, not which pooled connection HttpClient picks.
        using var firstClient = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var secondClient = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var thirdClient = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var clock = Stopwatch.StartNew();
        var first = firstClient.GetByteArrayAsync($"http://{listen}/v1/chunks/{chunks[0]}");
        await MetricsScrape.WaitForAsync(holder.MetricsAddress!, Active, v => v == 1, "the first upload to hold the only slot (1 MiB at 256 KiB/s: about 4 s)");
        using var second = await secondClient.GetAsync($"http://{listen}/v1/chunks/{chunks[1]}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Equal(1 << 20, (await first).Length);
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.True(seconds > 3.0, $"1 MiB at 256 KiB/s took only {seconds:0.00} s");

        // The client can see the last byte before the server's finally releases the slot: wait for the release itself.
        await MetricsScrape.WaitForAsync(holder.MetricsAddress!, Active, v => v == 0, "the first upload to release its slot");
        using var third = await thirdClient.GetAsync($"http://{listen}/v1/chunks/{chunks[1]}");
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        Assert.Equal(1 << 20, (await third.Content.ReadAsByteArrayAsync()).Length);
        // Again the client may hold the last byte before the server counts it: its slot's release comes after the count.
        await MetricsScrape.WaitForAsync(holder.MetricsAddress!, Active, v => v == 0, "the third upload to release its slot");
        string metrics = await MetricsScrape.TextAsync(holder.MetricsAddress!);
        Assert.Equal(1, MetricsScrape.Value(metrics, "p2pdist_peer_uploads_refused_total"));
        Assert.Equal(2 << 20, MetricsScrape.Value(metrics, "p2pdist_peer_uploaded_bytes_total"));
        Assert.True(MetricsScrape.Value(metrics, "p2pdist_peer_fetched_bytes_total{source=\"origin\"}") >= content.Length / 2, "the holder's own read came from the origin");
    }

    [Fact]
    public async Task GrafanaDashboard_PlotsOnlyMetricsTheDaemonsExport()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(1 << 20, 149);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "dashboard");
        int supernodeMetrics = FreePort.Next();
        await using var supernode = await SupernodeProcess.StartAsync("--metrics", $"127.0.0.1:{supernodeMetrics}");
        string listen = $"127.0.2.48:{FreePort.Next()}";
        await using var peer = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", listen);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await peer.MountAsync(target), "data.bin")));

        // A renamed metric would leave a panel silently empty.
        string exported = await MetricsScrape.TextAsync(peer.MetricsAddress!) + await MetricsScrape.TextAsync($"127.0.0.1:{supernodeMetrics}");
        string dashboard = string.Concat(Directory.GetFiles(AppContext.BaseDirectory, "p2pdist-*.json").Select(File.ReadAllText));
        var plotted = System.Text.RegularExpressions.Regex.Matches(dashboard, @"p2pdist_[a-z_]+").Select(m => m.Value.EndsWith("_bucket", StringComparison.Ordinal) ? m.Value[..^7] : m.Value).Distinct().ToList();
        Assert.True(plotted.Count >= 15, $"only {plotted.Count} metrics found in the dashboard");
        Assert.All(plotted, name => Assert.Contains($"# TYPE {name} ", exported));
    }

    [Fact]
    public async Task BusyHolder_ReadersWaitForAFreeSlot_InsteadOfFetchingFromTheOrigin()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(1 << 20, 148);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "busyholder");
        await using var supernode = await SupernodeProcess.StartAsync();
        string listen = $"127.0.2.47:{FreePort.Next()}";
        // One upload at a time, 1 MiB in 2 s: of two readers asking at once, one is refused at first.
        await using var holder = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", listen, "--upload-slots", "1", "--upload-rate", "512K");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        await supernode.WaitForEveryChunkHeldAsync(await P2PDistCli.BlobOfAsync(target), 1);
        await using var swarm = await PeerSwarm.StartAsync(2, supernode.Address, "127.0.7");
        string[] mounts = await Task.WhenAll(swarm.Peers.Select(p => p.MountAsync(target)));
        long before = server.BlobBytesServed("busyholder"); // exact: the registry's proxy counts before it sends

        var reads = await Task.WhenAll(mounts.Select(m => File.ReadAllBytesAsync(Path.Combine(m, "data.bin"))));
        Assert.All(reads, read => Assert.Equal(content, read));
        Assert.Equal(0, server.BlobBytesServed("busyholder") - before);
        foreach (var peer in swarm.Peers)
            Assert.Equal(1L << 20, (await peer.MountInfoAsync(target)).BytesFromPeers);
        double refused = await MetricsScrape.ValueAsync(holder.MetricsAddress!, "p2pdist_peer_uploads_refused_total");
        Assert.True(refused >= 1, $"one of the two readers should have been refused at first; refused: {refused}");
    }

    [Fact]
    public async Task EvictedChunks_AreWithdrawn_FromTheSupernode()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] first = SampleImages.Bytes(3 << 20, 144), second = SampleImages.Bytes(3 << 20, 145);
        string target = await new TestImage().Layer(w =>
        {
            w.File("a.bin", first);
            w.File("b.bin", second);
        }).PushAndConvertAsync(server.Host, "withdraw");
        await using var supernode = await SupernodeProcess.StartAsync();
        await using var peer = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.43:{FreePort.Next()}", "--cache-quota", "4M",
            "--passthrough", "false");
        string mount = await peer.MountAsync(target);
        string blob = await P2PDistCli.BlobOfAsync(target);
        Assert.Equal(first, await File.ReadAllBytesAsync(Path.Combine(mount, "a.bin")));
        await supernode.WaitForHolderAsync(blob, 0);
        Assert.Equal(second, await File.ReadAllBytesAsync(Path.Combine(mount, "b.bin"))); // past the quota: a.bin's chunks go

        await supernode.WaitForNoHolderAsync(blob, 0, TimeSpan.FromSeconds(10));
        // b.bin's last chunk is held and announced: its announcement may come in a batch after the withdrawal of a.bin's.
        await supernode.WaitForHolderAsync(blob, 5);
    }

    [Fact]
    public async Task Supernode_OverTls_WithThePeersTrustingItsCa()
    {
        await using var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(2 << 20, 146);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, "tlsswarm");
        var pki = await ClusterPki.CreateAsync(); // mutual TLS (issue 10): a cluster CA and a certificate per daemon
        await using var supernode = await SupernodeProcess.StartAsync(pki);
        string[] swarm = ["--supernode", supernode.Address];
        await using var first = await PeerProcess.StartAsync(null, [.. swarm, "--listen", $"127.0.2.44:{FreePort.Next()}", .. await pki.IssuePeerAsync("first")]);
        await using var second = await PeerProcess.StartAsync(null, [.. swarm, "--listen", $"127.0.2.45:{FreePort.Next()}", .. await pki.IssuePeerAsync("second")]);
        // Without a certificate (--insecure) the peer cannot register: it says so and keeps serving from the origin.
        await using var untrusting = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.46:{FreePort.Next()}");

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await first.MountAsync(target), "data.bin")));
        Assert.True(await ClusterPki.LogContainsAsync(supernode.LogPath, "peer first registered", TimeSpan.FromSeconds(30)), "the first peer registers under its certificate's name");
        await supernode.WaitForEveryChunkHeldAsync(await P2PDistCli.BlobOfAsync(target), 2); // announced over mutual TLS
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await second.MountAsync(target), "data.bin")));
        Assert.Equal(2L << 20, (await second.MountInfoAsync(target)).BytesFromPeers);
        Assert.True(await untrusting.LogContainsAsync("unreachable"), "a peer without the CA should say the supernode is unreachable");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await untrusting.MountAsync(target), "data.bin")));
    }
}
