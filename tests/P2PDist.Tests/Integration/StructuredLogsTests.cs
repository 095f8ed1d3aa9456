using System.Text;
using System.Text.Json;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// JSON logs (<c>--log-format json</c>): every line of both daemons is one JSON object with its event's fields,
/// and a run against a token-authenticated registry, a refused login included, logs no credential or token.
/// </summary>
public sealed class StructuredLogsTests
{
    [Fact]
    public async Task JsonLogs_OneObjectPerLine_WithTheEventsFields_AndNoCredentialOrToken()
    {
        await using var server = await RegistryServer.StartAsync(RegistryAuth.Token);
        var credentials = new P2PDist.Oci.RegistryOptions { PlainHttp = true, Username = RegistryServer.User, Password = RegistryServer.Password };
        string source = await new TestImage().Layer(w => w.File("data.bin", SampleImages.Bytes(1 << 20, 181))).PushAsync(server.Host, "logged", "v1", credentials);
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/logged:rafs", "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
        await using var supernode = await SupernodeProcess.StartAsync("--log-format", "json", "--log-level", "debug");
        await using var peer = await PeerProcess.StartAsync(null, "--supernode", supernode.Address, "--listen", $"127.0.2.75:{FreePort.Next()}", "--log-format", "json", "--log-level", "debug");

        string mountPoint = TestPaths.NewDirectory("mnt");
        var refused = await peer.CliAsync("mount", $"{server.Host}/logged:rafs", mountPoint, "--plain-http", "--username", RegistryServer.User, "--password", "wrong-" + RegistryServer.Password);
        Assert.NotEqual(0, refused.ExitCode);
        var mounted = await peer.CliAsync("mount", $"{server.Host}/logged:rafs", mountPoint, "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
        Assert.True(mounted.ExitCode == 0, mounted.Output);
        Assert.Equal(1 << 20, (await File.ReadAllBytesAsync(Path.Combine(mountPoint, "data.bin"))).Length);
        await peer.CliAsync("umount", mountPoint);

        var peerEvents = await EventsAsync(peer.LogPath);
        var mountEvent = Assert.Single(peerEvents, e => e.GetProperty("Message").GetString()!.StartsWith("mounted ", StringComparison.Ordinal));
        Assert.Equal($"{server.Host}/logged:rafs", mountEvent.GetProperty("State").GetProperty("Reference").GetString());
        Assert.Equal(mountPoint, mountEvent.GetProperty("State").GetProperty("MountPoint").GetString());
        var supernodeEvents = await EventsAsync(supernode.LogPath);
        Assert.Contains(supernodeEvents, e => e.GetProperty("State").TryGetProperty("PeerId", out var id) && id.GetString()!.Length > 0);

        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}"));
        foreach (string log in new[] { peer.LogPath, supernode.LogPath })
        {
            string text = await File.ReadAllTextAsync(log);
            Assert.DoesNotContain(RegistryServer.Password, text);
            Assert.DoesNotContain(basic, text);
            Assert.DoesNotContain("eyJ", text); // the start of every JWT the token service issues
            Assert.DoesNotContain("Bearer ", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>Every line of the log as a JSON object with the fields log collectors index; fails on a line that is not one.</summary>
    private static async Task<List<JsonElement>> EventsAsync(string logPath)
    {
        var events = new List<JsonElement>();
        foreach (string line in (await File.ReadAllLinesAsync(logPath)).Where(l => l.Length > 0))
        {
            JsonElement element;
            try
            {
                element = JsonDocument.Parse(line).RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new Xunit.Sdk.XunitException($"{logPath}: a line that is not JSON ({e.Message}): {line}");
            }
            foreach (string field in new[] { "Timestamp", "LogLevel", "Category", "Message" })
                Assert.True(element.TryGetProperty(field, out _), $"{logPath}: no {field} in {line}");
            events.Add(element);
        }
        Assert.NotEmpty(events);
        return events;
    }
}
