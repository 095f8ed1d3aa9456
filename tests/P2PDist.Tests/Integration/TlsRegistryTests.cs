using System.Diagnostics;
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
        var certificates = await TestCertificates.CreateAsync(directory);
        string caPath = certificates.CaPath, certPath = certificates.CertificatePath, keyPath = certificates.KeyPath;

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

    /// <summary>Pushes as soon as the registry answers over TLS (it listens a moment after starting).</summary>
    private static Task<string> PushWhenReadyAsync(string host, RegistryOptions options) =>
        Eventually.Async(() => SampleImages.ManyFiles(5).PushAsync(host, "tls", "v1", options with { MaxAttempts = 1 }), _ => true, TimeSpan.FromSeconds(20),
            $"a push to the TLS registry at {host}", retryOn: e => e is RegistryException);
}
