using P2PDist.Rafs;

namespace P2PDist.Security;

/// <summary>What a cluster certificate may be used as. A peer certificate cannot serve as a supernode and vice versa.</summary>
public enum ClusterRole
{
    Peer,
    Supernode,
}

/// <summary>
/// Who a cluster certificate names: a role and a name, carried as the URI SAN <c>p2pdist://ROLE/NAME</c> (the
/// common name repeats the name for people reading the certificate). A peer's id in the swarm is this name.
/// </summary>
public readonly record struct ClusterIdentity(ClusterRole Role, string Name)
{
    public const string UriScheme = "p2pdist";
    public const int MaxNameLength = 64;

    public string Uri => $"{UriScheme}://{RoleText(Role)}/{Name}";

    public override string ToString() => $"{RoleText(Role)} {Name}";

    public static string RoleText(ClusterRole role) => role == ClusterRole.Peer ? "peer" : "supernode";

    /// <summary>
    /// A name goes into certificates, logs and file names: 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit
    /// (no path separators, no control characters, no leading dot or dash).
    /// </summary>
    public static string ValidateName(string? name, string where)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || !char.IsAsciiLetterOrDigit(name[0])
            || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            string shown = name is null ? "(none)" : name.Length > 40 ? name[..40] + "..." : name;
            throw new P2PDistException($"{where}: '{shown}' is not a cluster name (1 to {MaxNameLength} of A-Z a-z 0-9 . _ -, starting with a letter or digit)");
        }
        return name;
    }

    /// <summary>Parses <c>p2pdist://peer/NAME</c> or <c>p2pdist://supernode/NAME</c>; null for anything else.</summary>
    public static ClusterIdentity? TryParseUri(string uri)
    {
        string prefix = UriScheme + "://";
        if (!uri.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        string rest = uri[prefix.Length..];
        int slash = rest.IndexOf('/');
        if (slash <= 0)
            return null;
        ClusterRole? role = rest[..slash] switch { "peer" => ClusterRole.Peer, "supernode" => ClusterRole.Supernode, _ => null };
        string name = rest[(slash + 1)..];
        if (role is null)
            return null;
        try
        {
            return new ClusterIdentity(role.Value, ValidateName(name, "certificate"));
        }
        catch (P2PDistException)
        {
            return null;
        }
    }
}
