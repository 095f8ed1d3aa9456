using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace P2PDist.Oci;

/// <summary>
/// Trusting a private CA (a PEM file) for TLS, besides the system's roots. Host names are still checked; the
/// chain is built with the intermediates the server sent (RFC 8446 4.4.2: the server sends them, the client
/// may not have them), and the leaf must allow TLS server authentication (RFC 5280 4.2.1.12), as the system
/// path requires too (review L8).
/// </summary>
public static class PrivateCa
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    public static SslClientAuthenticationOptions ClientOptions(string caFile)
    {
        var extra = new X509Certificate2Collection();
        extra.ImportFromPemFile(caFile);
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, sentChain, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                    return true;
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                    return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(extra);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                chain.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
                if (sentChain is not null)
                {
                    // The runtime put the certificates the server sent into the chain it tried; reuse them as candidates only.
                    chain.ChainPolicy.ExtraStore.AddRange(sentChain.ChainPolicy.ExtraStore);
                    foreach (var element in sentChain.ChainElements)
                        chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
                using var leaf = new X509Certificate2(certificate);
                return chain.Build(leaf);
            },
        };
    }
}
