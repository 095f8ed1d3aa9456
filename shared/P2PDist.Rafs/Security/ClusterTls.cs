using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PDist.Rafs;

namespace P2PDist.Security;

/// <summary>
/// A daemon's side of the cluster's mutual TLS: its own certificate and key, and the cluster CA as the only
/// root it trusts (no system roots). <see cref="Check"/> is the one place a remote certificate is judged:
/// chained to the CA, valid now, with the expected role and, where the caller knows it, the expected name.
/// </summary>
public sealed class ClusterTls : IDisposable
{
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    private readonly X509Certificate2Collection _roots;

    private ClusterTls(X509Certificate2 certificate, ClusterIdentity identity, X509Certificate2Collection roots)
    {
        Certificate = certificate;
        Identity = identity;
        _roots = roots;
        // Built once: a TLS client given only the certificate builds this context, chain and all, on every handshake.
        _context = new Lazy<SslStreamCertificateContext>(() => SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true));
    }

    private readonly Lazy<SslStreamCertificateContext> _context;

    public X509Certificate2 Certificate { get; }
    public ClusterIdentity Identity { get; }

    /// <summary>Loads the files and checks that the daemon's own certificate is one of this cluster's, for <paramref name="role"/>.</summary>
    public static ClusterTls Load(string certificateFile, string keyFile, string caFile, ClusterRole role)
    {
        X509Certificate2 certificate;
        var roots = new X509Certificate2Collection();
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            roots.ImportFromPemFile(caFile);
        }
        catch (CryptographicException e)
        {
            throw new P2PDistException($"--tls-cert {certificateFile} / --tls-key {keyFile} / --tls-ca {caFile}: {e.Message}");
        }
        if (roots.Count == 0)
            throw new P2PDistException($"--tls-ca {caFile} holds no certificate");
        // The daemon's own certificate is judged like a remote one: a wrong role or CA is found at start, not at the first call.
        if (new ClusterTls(certificate, default, roots).Check(certificate, role, expectedName: null, out string reason) is not { } identity)
        {
            certificate.Dispose();
            throw new P2PDistException($"--tls-cert {certificateFile}: {reason}");
        }
        return new ClusterTls(certificate, identity, roots);
    }

    /// <summary>
    /// The identity of <paramref name="remote"/> when it is a valid cluster certificate for <paramref name="role"/>
    /// (and named <paramref name="expectedName"/> when that is given); null with the reason otherwise.
    /// </summary>
    public ClusterIdentity? Check(X509Certificate? remote, ClusterRole role, string? expectedName, out string reason)
    {
        if (remote is null)
        {
            reason = "no certificate presented";
            return null;
        }
        using var certificate = new X509Certificate2(remote);
        if (!ChainsToTheCluster(certificate, role, out reason))
            return null;
        if (ClusterCertificates.IdentityOf(certificate) is not { } identity)
        {
            reason = $"certificate '{certificate.Subject}' has no {ClusterIdentity.UriScheme}:// identity";
            return null;
        }
        if (identity.Role != role)
        {
            reason = $"certificate of {identity} is not a {ClusterIdentity.RoleText(role)} certificate";
            return null;
        }
        if (expectedName is not null && identity.Name != expectedName)
        {
            reason = $"certificate names {identity}, expected {ClusterIdentity.RoleText(role)} {expectedName}";
            return null;
        }
        reason = "";
        return identity;
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to the cluster CA, is valid now and carries the extended key
    /// usage of <paramref name="role"/>. A chain build costs about a millisecond of CPU and every connection of
    /// the swarm (and, on the supernode, every call) presents a certificate, nearly always one already judged:
    /// a success is kept per certificate (its exact bytes) and role until the certificate expires. Failures are
    /// never kept, so a stranger cannot fill the table; it holds at most <see cref="MaxKeptVerdicts"/> entries.
    /// </summary>
    private bool ChainsToTheCluster(X509Certificate2 certificate, ClusterRole role, out string reason)
    {
        var key = (Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)), role);
        reason = "";
        if (_chained.TryGetValue(key, out DateTime notAfterUtc) && DateTime.UtcNow < notAfterUtc)
            return true;
        using var chain = new X509Chain { ChainPolicy = ChainPolicy(role) };
        if (!chain.Build(certificate))
        {
            _chained.TryRemove(key, out _);
            reason = $"certificate '{certificate.Subject}' is not valid for this cluster: "
                + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted"));
            return false;
        }
        if (_chained.Count >= MaxKeptVerdicts)
            _chained.Clear();
        // The chain's own expiry too: a certificate outliving its CA is judged again when the CA expires.
        var notAfter = DateTime.MaxValue;
        foreach (var element in chain.ChainElements)
        {
            var expires = element.Certificate.NotAfter.ToUniversalTime();
            if (expires < notAfter)
                notAfter = expires;
            if (!ReferenceEquals(element.Certificate, certificate))
                element.Certificate.Dispose(); // the chain's own copies, which disposing the chain leaves open
        }
        _chained[key] = notAfter;
        return true;
    }

    private const int MaxKeptVerdicts = 4096;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Sha256, ClusterRole Role), DateTime> _chained = new();

    /// <summary>
    /// How a remote certificate of <paramref name="remoteRole"/> is judged, by <see cref="Check"/> and by SslStream
    /// itself before our callback runs: the cluster CA only (not the system's trust store, which SslStream would
    /// otherwise search on every handshake), and never a download of a missing issuer from the URL a certificate
    /// names (a stranger's certificate would make this daemon send requests wherever it likes).
    /// </summary>
    public X509ChainPolicy ChainPolicy(ClusterRole remoteRole)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(_roots);
        policy.ApplicationPolicy.Add(remoteRole == ClusterRole.Peer ? ClientAuth : ServerAuth);
        return policy;
    }

    /// <summary>For a TLS server of this cluster (Kestrel's OnAuthenticate, which builds the server's certificate context itself): judge clients of <paramref name="clientRole"/> by the cluster CA only.</summary>
    public void ApplyServerPolicy(SslServerAuthenticationOptions options, ClusterRole clientRole) =>
        options.CertificateChainPolicy = ChainPolicy(clientRole);

    /// <summary>TLS client settings: present this daemon's certificate, accept only a cluster server of <paramref name="serverRole"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(ClusterRole serverRole, string? expectedName, bool checkHostName) => new()
    {
        ClientCertificateContext = _context.Value,
        CertificateChainPolicy = ChainPolicy(serverRole),
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            (!checkHostName || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0)
            && Check(certificate, serverRole, expectedName, out _) is not null,
    };

    public void Dispose() => Certificate.Dispose();
}
