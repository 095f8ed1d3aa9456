using System.Text;
using System.Text.Json;

namespace P2PDist.Oci;

/// <summary>Finds the username and password for a registry host: explicit options first, then ~/.docker/config.json.</summary>
internal static class RegistryCredentials
{
    public static (string User, string Password)? Find(RegistryOptions options, string host)
    {
        if (options.Username is not null)
            return (options.Username, options.Password ?? "");
        return FromDockerConfig(options.DockerConfigFile, host);
    }

    private static (string, string)? FromDockerConfig(string path, string host)
    {
        if (!File.Exists(path))
            return null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new OciException($"docker credential file {path} is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            if (!document.RootElement.TryGetProperty("auths", out var auths) || auths.ValueKind != JsonValueKind.Object)
                return null;
            foreach (var entry in auths.EnumerateObject())
            {
                string key = entry.Name.Replace("https://", "").Replace("http://", "").TrimEnd('/');
                if (!string.Equals(key, host, StringComparison.OrdinalIgnoreCase))
                    continue;
                if (entry.Value.TryGetProperty("auth", out var auth) && auth.GetString() is { Length: > 0 } encoded)
                {
                    string pair = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
                    int colon = pair.IndexOf(':');
                    if (colon < 0)
                        throw new OciException($"docker credential file {path}: the auth entry for {host} is not user:password");
                    return (pair[..colon], pair[(colon + 1)..]);
                }
                if (entry.Value.TryGetProperty("username", out var user) && entry.Value.TryGetProperty("password", out var password))
                    return (user.GetString() ?? "", password.GetString() ?? "");
            }
        }
        return null;
    }
}
