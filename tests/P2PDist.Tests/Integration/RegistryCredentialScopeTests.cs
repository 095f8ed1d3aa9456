using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Http;
using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// Review L1: registry credentials stay with the registry. Fake registries and token services on 127.0.0.1
/// and 127.0.0.2 (TLS where the rule is about https) answer as a hostile or broken registry would.
/// </summary>
public sealed class RegistryCredentialScopeTests
{
    private const string User = "alice", Password = "s3cret";
    private static readonly string BasicCredentials = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
    private static readonly IPAddress OtherLoopback = IPAddress.Parse("127.0.0.2");

    private static async Task<(TestCertificates Files, X509Certificate2 Certificate)> CertificatesAsync()
    {
        var files = await TestCertificates.CreateAsync(TestPaths.NewDirectory("l1-tls"));
        using var pem = X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
        return (files, X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null));
    }

    private static RegistryOptions Options(string? ca = null, bool plainHttp = false) => new()
    {
        PlainHttp = plainHttp,
        CaCertificateFile = ca,
        Username = User,
        Password = Password,
        MaxAttempts = 1,
        RequestTimeout = TimeSpan.FromSeconds(10),
        DockerConfigFile = "/nonexistent",
    };

    [Fact]
    public async Task L1_UploadLocationOnAnotherHostAndScheme_GetsNoAuthorization()
    {
        await using var elsewhere = await ScriptedHttpServer.StartAsync(OtherLoopback, context =>
        {
            context.Response.StatusCode = StatusCodes.Status201Created;
            return Task.CompletedTask;
        });
        var (files, certificate) = await CertificatesAsync();
        using var _ = certificate;
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            if (context.Request.Headers.Authorization != BasicCredentials)
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"fake\"";
                return Task.CompletedTask;
            }
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            context.Response.Headers.Location = new Uri(elsewhere.BaseUri, "upload/session-1").ToString();
            return Task.CompletedTask;
        }, certificate);

        byte[] blob = "hello"u8.ToArray();
        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(files.CaPath));
        await client.PushBlobAsync(OciDigest.Sha256(blob), blob.Length, () => new MemoryStream(blob), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Contains(registry.Seen, r => r.Method == "POST" && r.Authorization == BasicCredentials); // the registry did get them
        var put = Assert.Single(elsewhere.Seen);
        Assert.Equal("PUT", put.Method);
        Assert.StartsWith("/upload/session-1?digest=sha256", put.PathAndQuery);
        Assert.Null(put.Authorization);
    }

    [Fact]
    public async Task L1_HttpTokenRealmFromAnHttpsRegistry_IsRefused()
    {
        await using var tokens = await ScriptedHttpServer.StartAsync(OtherLoopback, context => context.Response.WriteAsync("{\"token\":\"t\"}"));
        var (files, certificate) = await CertificatesAsync();
        using var _ = certificate;
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{new Uri(tokens.BaseUri, "token")}\",service=\"fake\"";
            return Task.CompletedTask;
        }, certificate);

        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(files.CaPath));
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync("v1", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"refused token realm http://{tokens.Authority}/token", e.Message);
        Assert.Contains("must not travel over plain http", e.Message);
        Assert.Empty(tokens.Seen);
    }

    [Fact]
    public async Task L1_TokenRealmOnAnotherHost_GetsNoPassword()
    {
        await using var tokens = await ScriptedHttpServer.StartAsync(OtherLoopback, context => context.Response.WriteAsync("{\"token\":\"t\"}"));
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{new Uri(tokens.BaseUri, "token")}\"";
            return Task.CompletedTask;
        });

        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(plainHttp: true));
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync("v1", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("it is on 127.0.0.2, not on the registry's host 127.0.0.1", e.Message);
        Assert.Empty(tokens.Seen);
    }

    [Fact]
    public async Task L1_EndlessTokenAnswer_IsRefusedAtItsBound()
    {
        await using var tokens = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context => ScriptedHttpServer.WriteFillerAsync(context, 256L << 20));
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{new Uri(tokens.BaseUri, "token")}\"";
            return Task.CompletedTask;
        });

        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(plainHttp: true));
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.GetManifestAsync("v1", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("is larger than the 8,388,608-byte bound", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"refusing took {clock.Elapsed}");
    }

    [Fact]
    public async Task L1_EndlessErrorBodyOfABlob_IsCutToItsFirstBytes()
    {
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return ScriptedHttpServer.WriteFillerAsync(context, 1L << 40);
        });

        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(plainHttp: true));
        var blob = new Descriptor { Digest = OciDigest.Sha256([1]), Size = 1 };
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.OpenBlobAsync(blob, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(403, e.StatusCode);
        Assert.Contains(": " + new string('x', 500), e.Message);
        Assert.True(e.Message.Length < 1000, $"the message is {e.Message.Length} characters");
    }
}
