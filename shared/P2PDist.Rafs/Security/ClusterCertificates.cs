using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PDist.Rafs;

namespace P2PDist.Security;

/// <summary>
/// The cluster's private CA and the certificates it issues (`p2pdist cert init-ca`, `p2pdist cert issue`):
/// ECDSA P-256, keys written 0600, nothing ever overwritten. Peers and supernodes trust this CA and no other.
/// </summary>
public static class ClusterCertificates
{
    public const string CaCertificateFile = "ca.crt";
    public const string CaKeyFile = "ca.key";

    /// <summary>Object id of the client-authentication and server-authentication extended key usages.</summary>
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static (string Certificate, string Key) InitCa(string dir, TimeProvider? clock = null)
    {
        string certPath = Path.Combine(dir, CaCertificateFile), keyPath = Path.Combine(dir, CaKeyFile);
        RefuseExisting(certPath, keyPath);
        Directory.CreateDirectory(dir);
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=p2pdist cluster CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
        WriteKey(keyPath, key);
        File.WriteAllText(certPath, ca.ExportCertificatePem() + "\n");
        return (certPath, keyPath);
    }

    /// <summary>Issues a certificate for <paramref name="identity"/> signed by the CA in <paramref name="caDir"/>; writes NAME.crt, NAME.key and ca.crt to <paramref name="outDir"/>.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static (string Certificate, string Key) Issue(string caDir, ClusterIdentity identity, IEnumerable<IPAddress> ips, IEnumerable<string> dnsNames,
        string outDir, TimeSpan validFor, TimeProvider? clock = null)
    {
        ClusterIdentity.ValidateName(identity.Name, "name");
        string caCertPath = Path.Combine(caDir, CaCertificateFile), caKeyPath = Path.Combine(caDir, CaKeyFile);
        if (!File.Exists(caCertPath) || !File.Exists(caKeyPath))
            throw new P2PDistException($"--ca-dir {caDir}: no {CaCertificateFile} and {CaKeyFile} (create them with `p2pdist cert init-ca --dir {caDir}`)");
        string certPath = Path.Combine(outDir, identity.Name + ".crt"), keyPath = Path.Combine(outDir, identity.Name + ".key");
        RefuseExisting(certPath, keyPath);
        using var ca = X509Certificate2.CreateFromPemFile(caCertPath, caKeyPath);
        using var caKey = ca.GetECDsaPrivateKey() ?? throw new P2PDistException($"{caKeyPath} is not an ECDSA key");
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={identity.Name}, OU={ClusterIdentity.RoleText(identity.Role)}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // A peer is a server (its chunk listener) and a client (of peers and supernodes); a supernode only serves.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            identity.Role == ClusterRole.Peer ? new OidCollection { ServerAuth, ClientAuth } : new OidCollection { ServerAuth }, true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(identity.Uri));
        foreach (var ip in ips)
            san.AddIpAddress(ip);
        foreach (string dns in dnsNames)
            san.AddDnsName(dns);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var notAfter = now.Add(validFor) < ca.NotAfter ? now.Add(validFor) : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), notAfter, serial);
        Directory.CreateDirectory(outDir);
        WriteKey(keyPath, key);
        File.WriteAllText(certPath, issued.ExportCertificatePem() + "\n");
        string caCopy = Path.Combine(outDir, CaCertificateFile);
        if (Path.GetFullPath(caCopy) != Path.GetFullPath(caCertPath))
            File.Copy(caCertPath, caCopy, overwrite: true);
        return (certPath, keyPath);
    }

    /// <summary>The role and name a cluster certificate carries in its URI SAN; null when it has none.</summary>
    public static ClusterIdentity? IdentityOf(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                // .NET enumerates DNS names and IPs only; a URI SAN is read from the raw encoding.
                foreach (string uri in SanUris(san.RawData))
                {
                    if (ClusterIdentity.TryParseUri(uri) is { } identity)
                        return identity;
                }
            }
        }
        return null;
    }

    private static IEnumerable<string> SanUris(byte[] der)
    {
        var reader = new System.Formats.Asn1.AsnReader(der, System.Formats.Asn1.AsnEncodingRules.DER);
        var names = reader.ReadSequence();
        var uriTag = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6);
        var found = new List<string>();
        while (names.HasData)
        {
            if (names.PeekTag() == uriTag)
                found.Add(names.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, uriTag));
            else
                names.ReadEncodedValue();
        }
        return found;
    }

    private static void RefuseExisting(params string[] paths)
    {
        foreach (string path in paths)
        {
            if (File.Exists(path))
                throw new P2PDistException($"{path} already exists; refusing to overwrite it (remove it first to replace it)");
        }
    }

    /// <summary>Creates the key file 0600 before any byte of the key is written.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void WriteKey(string path, ECDsa key)
    {
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        using var writer = new StreamWriter(stream);
        writer.Write(key.ExportPkcs8PrivateKeyPem());
        writer.Write('\n');
    }
}
