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
    }

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
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(role == ClusterRole.Peer ? ClientAuth : ServerAuth);
        if (!chain.Build(certificate))
        {
            reason = $"certificate '{certificate.Subject}' is not valid for this cluster: "
                + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted"));
            return null;
        }
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

    /// <summary>TLS client settings: present this daemon's certificate, accept only a cluster server of <paramref name="serverRole"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(ClusterRole serverRole, string? expectedName, bool checkHostName) => new()
    {
        ClientCertificates = new X509CertificateCollection { Certificate },
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            (!checkHostName || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0)
            && Check(certificate, serverRole, expectedName, out _) is not null,
    };

    public void Dispose() => Certificate.Dispose();
}
