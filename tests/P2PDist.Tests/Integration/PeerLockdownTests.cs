using System.Net;
using System.Net.Http.Json;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The peer's interfaces, attacked as the security review describes (findings C1, C2, M6, M7, M8 and the API
/// socket's peer credentials), against a real daemon, a real registry and real FUSE mounts. Each test ends
/// with a legitimate reader getting correct bytes.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class PeerLockdownTests(RegistryFixture registry)
{
    private static readonly byte[] Marker = "pwned\n"u8.ToArray();

    private Task<string> MarkerImageAsync(string repository) =>
        new TestImage().Layer(w => w.File("marker", Marker)).PushAndConvertAsync(registry.Host, repository);

    [Fact]
    public async Task C1_ManagementRoutesOnTheChunkAndMetricsPorts_Are404_AndNothingIsMounted()
    {
        string target = await MarkerImageAsync("lockdown-c1");
        string listen = $"127.0.2.50:{FreePort.Next()}";
        string metrics = $"127.0.2.50:{FreePort.Next()}";
        await using var peer = await PeerProcess.StartAsync(null, "--listen", listen, "--metrics-listen", metrics);
        string victim = TestPaths.NewDirectory("c1-victim");
        string legitimate = await peer.MountAsync(target);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        foreach (string port in new[] { listen, metrics })
        {
            var post = await http.PostAsJsonAsync($"http://{port}/v1/mounts",
                new { reference = target, mountPoint = victim, plainHttp = true, manifestDigest = victim });
            Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"http://{port}/v1/mounts?path={Uri.EscapeDataString(legitimate)}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{port}/v1/mounts")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{port}/v1/health")).StatusCode);
        }
        // Each port serves its own job: chunks on --listen only, metrics and health on --metrics-listen only.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{listen}/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://{metrics}/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://{metrics}/readyz")).StatusCode);
        Assert.Contains("p2pdist_peer_mounts 1", await http.GetStringAsync($"http://{metrics}/metrics"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{metrics}/v1/chunks/blake3-{new string('0', 64)}")).StatusCode);

        Assert.Empty(Directory.GetFileSystemEntries(victim));
        Assert.DoesNotContain(victim, await File.ReadAllTextAsync("/proc/self/mountinfo"));
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(legitimate, "marker")));
    }

    [Fact]
    public async Task C2_ManifestDigestFromTheApi_NeverBecomesAPath()
    {
        string target = await MarkerImageAsync("lockdown-c2");
        await using var peer = await PeerProcess.StartAsync();
        string outside = TestPaths.NewDirectory("c2-outside");
        string mountPoint = TestPaths.NewDirectory("mnt");
        using var api = LocalApiClient(peer);
        foreach (string digest in new[] { outside, "../../../" + outside.TrimStart('/'), "sha256:" + new string('a', 64) })
        {
            var response = await api.PostAsJsonAsync("http://localhost/v1/mounts",
                new { reference = target, mountPoint, plainHttp = true, manifestDigest = digest });
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            Assert.Empty(Directory.GetFileSystemEntries(outside));
            Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "marker"))); // the pinned digest is the real one
            await peer.CliAsync("umount", mountPoint);
        }

        // A state file edited to carry a traversal digest: the restart refuses that entry and writes nothing.
        await peer.StopAsync();
        string state = Path.Combine(peer.DataDir, "mounts.json");
        await File.WriteAllTextAsync(state, $$"""[{"Reference":"{{target}}","MountPoint":"{{mountPoint}}","PlainHttp":true,"ManifestDigest":"../../../..{{outside}}"}]""");
        await peer.RestartAsync();
        Assert.True(await peer.LogContainsAsync("is not sha256:<64 hex>"));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(await peer.MountAsync(target), "marker")));
    }

    [Theory]
    [InlineData("relative/dir", "must be an absolute path")]
    [InlineData("/", "must not be /")]
    [InlineData("{data}", "data directory")]
    [InlineData("{data}/cache", "data directory")]
    [InlineData("{link}", "must be canonical")]
    [InlineData("{full}", "must be empty")]
    public async Task Validation_BadMountPoints_AreRefusedByFieldAndRule(string mountPoint, string rule)
    {
        string target = await MarkerImageAsync("lockdown-validate");
        await using var peer = await PeerProcess.StartAsync();
        string scratch = TestPaths.NewDirectory("validate");
        string full = Directory.CreateDirectory(Path.Combine(scratch, "full")).FullName;
        await File.WriteAllTextAsync(Path.Combine(full, "keep"), "mine");
        string link = Path.Combine(scratch, "link");
        Directory.CreateSymbolicLink(link, full);
        string path = mountPoint.Replace("{data}", peer.DataDir).Replace("{link}", link).Replace("{full}", full);
        using var api = LocalApiClient(peer);
        var response = await api.PostAsJsonAsync("http://localhost/v1/mounts", new { reference = target, mountPoint = path, plainHttp = true });
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("'mountPoint'", body);
        Assert.Contains(rule, body);
        Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(full, "keep")));
    }

    [Theory]
    [InlineData("reference", "not a reference at all", "reference")]
    [InlineData("platform", "../../x", "platform")]
    [InlineData("caCertificateFile", "/dev/zero", "regular file")]
    public async Task Validation_BadFields_AreRefusedByName(string field, string value, string expected)
    {
        string target = await MarkerImageAsync("lockdown-fields");
        await using var peer = await PeerProcess.StartAsync();
        var request = new Dictionary<string, object> { ["reference"] = target, ["mountPoint"] = TestPaths.NewDirectory("mnt"), ["plainHttp"] = true };
        request[field] = value;
        using var api = LocalApiClient(peer);
        var response = await api.PostAsJsonAsync("http://localhost/v1/mounts", request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PeerCredentials_AWorldWritableSocket_StillAnswersOnlyRoot()
    {
        await using var peer = await PeerProcess.StartAsync(Path.Combine(OpenDirectory.Create("cred"), "data"));
        string socket = Path.Combine(peer.DataDir, "peer.sock");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        // Simulate an operator's mistake: the socket and its directory opened to everyone.
        File.SetUnixFileMode(socket, (UnixFileMode)0x1B6);
        File.SetUnixFileMode(peer.DataDir, (UnixFileMode)0x1ED);
        var asNobody = await ProcessRunner.RunAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost/v1/mounts"]);
        Assert.Equal("403", asNobody.Stdout.Trim());
        Assert.True(await peer.LogContainsAsync("local API: refused a caller (uid 65534"));
        var asRoot = await ProcessRunner.RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost/v1/mounts"]);
        Assert.Equal("200", asRoot.Stdout.Trim());
    }

    [Fact]
    public async Task M6_DataDirStateFileAndCache_AreOwnerOnly_AndThePasswordIsNotLogged()
    {
        string target = await MarkerImageAsync("lockdown-m6");
        await using var peer = await PeerProcess.StartAsync(Path.Combine(OpenDirectory.Create("m6"), "data"));
        const string Password = "not-for-logs-7781";
        string mountPoint = await peer.MountAsync(target, "--username", "someone", "--password", Password);
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(mountPoint, "marker")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(peer.DataDir));
        string state = Path.Combine(peer.DataDir, "mounts.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(state));
        string chunk = Directory.EnumerateFiles(Path.Combine(peer.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories).First();
        var read = await ProcessRunner.RunAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "cat", chunk]);
        Assert.NotEqual(0, read.ExitCode);
        Assert.Contains("Permission denied", read.Stderr);
        Assert.DoesNotContain(Password, await File.ReadAllTextAsync(peer.LogPath));
    }

    [Fact]
    public async Task M7_Restore_NeverDetachesAFileSystemThatIsNotOurs()
    {
        string target = await MarkerImageAsync("lockdown-m7");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        await peer.StopAsync(); // unmounts, keeps the state file
        await ProcessRunner.RunCheckedAsync("mount", "-t", "tmpfs", "none", mountPoint);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(mountPoint, "keep"), "operator's");
            await peer.RestartAsync();
            Assert.True(await peer.LogContainsAsync("a tmpfs file system (source none) is mounted there now, and it is not ours"));
            Assert.Equal("operator's", await File.ReadAllTextAsync(Path.Combine(mountPoint, "keep")));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", [mountPoint]);
        }
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(await peer.MountAsync(target), "marker")));
    }

    [Fact]
    public async Task L9_ADamagedStateFile_IsMovedAside_AndTheDaemonStillStarts()
    {
        string target = await MarkerImageAsync("lockdown-l9");
        await using var peer = await PeerProcess.StartAsync();
        await peer.MountAsync(target);
        await peer.StopAsync();
        string state = Path.Combine(peer.DataDir, "mounts.json");
        await File.WriteAllTextAsync(state, "[{\"Reference\": \"truncated by a power cut"); // what a crash mid-write could leave without fsync
        await peer.RestartAsync();
        Assert.True(await peer.LogContainsAsync("cannot be read"), "the damaged state file should be reported");
        Assert.Single(Directory.GetFiles(peer.DataDir, "mounts.json.damaged-*"));
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(await peer.MountAsync(target), "marker")));
    }

    [Fact]
    public async Task M8_AMountStuckOnATarpitRegistry_DoesNotBlockListingOrUnmounting()
    {
        string target = await MarkerImageAsync("lockdown-m8");
        using var tarpit = new Tarpit();
        await using var peer = await PeerProcess.StartAsync();
        string other = await peer.MountAsync(target);
        var stuck = peer.CliAsync("mount", $"{tarpit.Host}/stuck:v1", TestPaths.NewDirectory("mnt"), "--plain-http");
        await Eventually.Async(() => Task.FromResult(tarpit.Accepted > 0), TimeSpan.FromSeconds(30), "the stuck mount to reach the tar pit");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var list = await peer.CliAsync("mounts");
        Assert.Contains(other, list.Stdout);
        Assert.Equal(0, (await peer.CliAsync("umount", other)).ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"listing and unmounting took {clock.Elapsed.TotalSeconds:0.0} s behind a stuck mount");
        Assert.False(stuck.IsCompleted, "the tar pit answered?");
        Assert.Equal(Marker, await File.ReadAllBytesAsync(Path.Combine(await peer.MountAsync(target), "marker")));
        await peer.StopAsync();
        Assert.NotEqual(0, (await stuck).ExitCode);
    }

    private static HttpClient LocalApiClient(PeerProcess peer)
    {
        string socket = Path.Combine(peer.DataDir, "peer.sock");
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), cancellationToken);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
    }
}
