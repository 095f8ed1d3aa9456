using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Basic and bearer-token auth against real registries configured for them.</summary>
public sealed class RegistryAuthTests
{
    private static readonly RegistryOptions Credentials = new() { PlainHttp = true, Username = RegistryServer.User, Password = RegistryServer.Password };

    [Theory]
    [InlineData(RegistryAuth.Basic)]
    [InlineData(RegistryAuth.Token)]
    public async Task Convert_WithCredentialFlags_Works(RegistryAuth auth)
    {
        await using var server = await RegistryServer.StartAsync(auth);
        string source = await SampleImages.Rich().PushAsync(server.Host, "secured", "v1", Credentials);
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/secured:rafs", "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
        await P2PDistCli.RunOkAsync("image", "check", $"{server.Host}/secured:rafs", "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
    }

    [Theory]
    [InlineData(RegistryAuth.Basic)]
    [InlineData(RegistryAuth.Token)]
    public async Task Convert_WithWrongPassword_FailsClearly(RegistryAuth auth)
    {
        await using var server = await RegistryServer.StartAsync(auth);
        string source = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(server.Host, "secured", "v1", Credentials);
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{server.Host}/secured:rafs", "--plain-http", "--username", RegistryServer.User, "--password", "wrong");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("rejected the credentials", result.Stderr);
        Assert.False(server.HasTag("secured", "rafs"));
    }

    [Fact]
    public async Task Mount_WithRightAndWrongCredentials()
    {
        await using var server = await RegistryServer.StartAsync(RegistryAuth.Token);
        string source = await new TestImage().Layer(w => w.File("secret", "data"u8.ToArray())).PushAsync(server.Host, "secured", "v1", Credentials);
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{server.Host}/secured:rafs", "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = TestPaths.NewDirectory("mnt");
        var wrong = await peer.CliAsync("mount", $"{server.Host}/secured:rafs", mountPoint, "--plain-http", "--username", RegistryServer.User, "--password", "wrong");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("rejected the credentials", wrong.Stderr);
        Assert.DoesNotContain(mountPoint, await File.ReadAllTextAsync("/proc/self/mountinfo"));
        var right = await peer.CliAsync("mount", $"{server.Host}/secured:rafs", mountPoint, "--plain-http", "--username", RegistryServer.User, "--password", RegistryServer.Password);
        Assert.True(right.ExitCode == 0, right.Output);
        Assert.Equal("data", await File.ReadAllTextAsync(Path.Combine(mountPoint, "secret"))); // chunk fetches carry the token too
        await peer.CliAsync("umount", mountPoint);
    }

    [Fact]
    public async Task Convert_WithoutCredentials_SaysTheyAreNeeded()
    {
        await using var server = await RegistryServer.StartAsync(RegistryAuth.Basic);
        string source = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(server.Host, "secured", "v1", Credentials);
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{server.Host}/secured:rafs", "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("wants a username and password", result.Stderr);
    }

    [Fact]
    public async Task Convert_WithDockerConfigCredentials_Works()
    {
        await using var server = await RegistryServer.StartAsync(RegistryAuth.Token);
        string source = await SampleImages.ManyFiles(10).PushAsync(server.Host, "secured", "v1", Credentials);
        string home = TestPaths.NewDirectory("home");
        Directory.CreateDirectory(Path.Combine(home, ".docker"));
        string auth = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}"));
        await File.WriteAllTextAsync(Path.Combine(home, ".docker", "config.json"), System.Text.Json.JsonSerializer.Serialize(new { auths = new Dictionary<string, object> { [server.Host] = new { auth } } }));
        var result = await P2PDistCli.RunWithHomeAsync(home, TimeSpan.FromMinutes(5), "image", "convert", source, $"{server.Host}/secured:rafs", "--plain-http");
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.True(server.HasTag("secured", "rafs"));
    }
}
