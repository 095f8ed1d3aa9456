using System.Net;

namespace P2PDist.Oci;

/// <summary>
/// Where a Bearer challenge's token realm may be, and whether the registry password may go there (review L1).
/// The rule, per registry host as containerd scopes its authorizer:
/// <list type="bullet">
/// <item>the realm is an absolute http or https URL; if the registry is spoken to over https, so is the realm,
/// whatever else holds (a password or a token over plain http is readable on the path);</item>
/// <item>Basic credentials go to the realm only on the registry's own host (any port), or on a sibling name
/// under the same parent domain of at least two labels (auth.docker.io for registry-1.docker.io); IP
/// addresses must be equal. A realm elsewhere is refused when there are credentials to send, and asked
/// anonymously when there are none (nothing leaks).</item>
/// </list>
/// </summary>
internal static class TokenRealmPolicy
{
    public static Uri Check(string realm, Uri registry, bool haveCredentials, string what)
    {
        if (!Uri.TryCreate(realm, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new RegistryException(401, $"{what}: token realm '{realm}' from {registry.Authority} is not an http(s) URL");
        if (registry.Scheme == Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttps)
            throw new RegistryException(401, $"{what}: refused token realm {realm}: the registry {registry.Authority} is https, and a token or password must not travel over plain http");
        if (haveCredentials && !MayReceiveCredentials(uri.Host, registry.Host))
            throw new RegistryException(401, $"{what}: refused token realm {realm}: it is on {uri.Host}, not on the registry's host {registry.Host}, and the registry password is sent only there");
        return uri;
    }

    public static bool MayReceiveCredentials(string realmHost, string registryHost)
    {
        if (string.Equals(realmHost, registryHost, StringComparison.OrdinalIgnoreCase))
            return true;
        if (IPAddress.TryParse(realmHost.Trim('[', ']'), out _) || IPAddress.TryParse(registryHost.Trim('[', ']'), out _))
            return false;
        string? realmParent = Parent(realmHost), registryParent = Parent(registryHost);
        return realmParent is not null && string.Equals(realmParent, registryParent, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The name without its first label, when that still has two labels ("docker.io"), else null ("io").</summary>
    private static string? Parent(string host)
    {
        int dot = host.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
            return null;
        string parent = host[(dot + 1)..];
        return parent.Contains('.', StringComparison.Ordinal) ? parent : null;
    }
}
