using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>A registry serving TLS with a certificate from a private CA: trusted with --ca-cert, refused without.</summary>
public sealed class TlsRegistryTests
{
    [Fact]
    public async Task Convert_FromATlsRegistry_NeedsItsCa()
    {
        string directory = TestPaths.NewDirectory("tls");
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=p2pdist test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), [1, 2, 3, 4]);
        string caPath = Path.Combine(directory, "ca.pem"), certPath = Path.Combine(directory, "server.pem"), keyPath = Path.Combine(directory, "server.key");
        await File.WriteAllTextAsync(caPath, ca.ExportCertificatePem());
        await File.WriteAllTextAsync(certPath, server.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, serverKey.ExportPkcs8PrivateKeyPem());

        int port = FreePort.Next();
        string config = $"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {directory}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {certPath}\n    key: {keyPath}\n";
        await File.WriteAllTextAsync(Path.Combine(directory, "config.yml"), config);
        using var registry = Process.Start(new ProcessStartInfo("/usr/bin/docker-registry", ["serve", Path.Combine(directory, "config.yml")])
        { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            string host = $"127.0.0.1:{port}";
            var options = new RegistryOptions { CaCertificateFile = caPath };
            string source = await PushWhenReadyAsync(host, options);
            var untrusted = await P2PDistCli.RunAsync("image", "convert", source, $"{host}/tls:rafs", "--timeout", "5");
            Assert.NotEqual(0, untrusted.ExitCode);
            Assert.Contains("unreachable", untrusted.Stderr);
            await P2PDistCli.RunOkAsync("image", "convert", source, $"{host}/tls:rafs", "--ca-cert", caPath);
            await P2PDistCli.RunOkAsync("image", "check", $"{host}/tls:rafs", "--ca-cert", caPath);
        }
        finally
        {
            registry.Kill();
            await registry.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    private static async Task<string> PushWhenReadyAsync(string host, RegistryOptions options)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await SampleImages.ManyFiles(5).PushAsync(host, "tls", "v1", options with { MaxAttempts = 1 });
            }
            catch (RegistryException) when (deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
            }
        }
    }
}
