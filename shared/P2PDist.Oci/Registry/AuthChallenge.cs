using System.Text.RegularExpressions;

namespace P2PDist.Oci;

/// <summary>A parsed <c>WWW-Authenticate</c> challenge (RFC 7235; the registry token flow of the distribution spec).</summary>
internal sealed partial record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
            return null;
        header = header.Trim();
        int space = header.IndexOf(' ');
        string scheme = space < 0 ? header : header[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (space >= 0)
        {
            foreach (Match m in ParameterPattern().Matches(header[(space + 1)..]))
                parameters[m.Groups[1].Value] = m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value;
        }
        return new AuthChallenge(scheme, parameters);
    }

    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    [GeneratedRegex("""([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))""")]
    private static partial Regex ParameterPattern();
}
