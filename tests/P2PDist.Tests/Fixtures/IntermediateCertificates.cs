using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A private root CA (written as PEM), an intermediate CA it signed, and two certificates for 127.0.0.1: one
/// issued by the intermediate for TLS servers, one issued by the root for TLS clients only (no serverAuth EKU).
/// </summary>
public sealed class IntermediateCertificates : IDisposable
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";

    private IntermediateCertificates(string caPath, X509Certificate2 intermediate, X509Certificate2 server, X509Certificate2 clientOnly)
    {
        CaPath = caPath;
        Intermediate = intermediate;
        Server = server;
        ClientOnly = clientOnly;
    }

    public string CaPath { get; }
    public X509Certificate2 Intermediate { get; }

    /// <summary>Issued by the intermediate, with the serverAuth EKU and its private key.</summary>
    public X509Certificate2 Server { get; }

    /// <summary>Issued by the root, with only the clientAuth EKU and its private key.</summary>
    public X509Certificate2 ClientOnly { get; }

    public static IntermediateCertificates Create(string directory)
    {
        var now = DateTimeOffset.UtcNow;
        using var rootKey = RSA.Create(2048);
        var rootRequest = new CertificateRequest("CN=p2pdist test root", rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var intermediateKey = RSA.Create(2048);
        var intermediateRequest = new CertificateRequest("CN=p2pdist test intermediate", intermediateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var intermediatePublic = intermediateRequest.Create(root, now.AddDays(-1), now.AddDays(29), [5, 6, 7, 8]);
        var intermediate = intermediatePublic.CopyWithPrivateKey(intermediateKey);

        string caPath = Path.Combine(directory, "root-ca.pem");
        File.WriteAllText(caPath, root.ExportCertificatePem());
        var server = Leaf(intermediate, ServerAuth, 9);
        var clientOnly = Leaf(root, ClientAuth, 10);
        return new IntermediateCertificates(caPath, Reload(intermediate), server, clientOnly);
    }

    private static X509Certificate2 Leaf(X509Certificate2 issuer, string usage, byte serial)
    {
        var now = DateTimeOffset.UtcNow;
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var leaf = request.Create(issuer, now.AddDays(-1), now.AddDays(28), [1, 2, 3, serial]);
        return Reload(leaf.CopyWithPrivateKey(key));
    }

    /// <summary>An ephemeral key is not usable by SslStream on Linux; a PKCS#12 round trip makes it so.</summary>
    private static X509Certificate2 Reload(X509Certificate2 certificate)
    {
        using (certificate)
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Intermediate.Dispose();
        Server.Dispose();
        ClientOnly.Dispose();
    }
}
