using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace P2PDist.Oci;

/// <summary>Trusting a private CA (a PEM file) for TLS, besides the system's roots; host names are still checked.</summary>
public static class PrivateCa
{
    public static SslClientAuthenticationOptions ClientOptions(string caFile)
    {
        var extra = new X509Certificate2Collection();
        extra.ImportFromPemFile(caFile);
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                    return true;
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                    return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(extra);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            },
        };
    }
}
