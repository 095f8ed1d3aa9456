using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Rafs;

namespace P2PDist.Settings;

/// <summary>Reads a daemon's settings file, YAML (flat) or JSON, refusing unknown keys with the file's name.</summary>
public static class SettingsFile
{
    public static T Read<T>(string path) where T : new()
    {
        if (!File.Exists(path))
            throw new P2PDistException($"--config: {path} does not exist");
        try
        {
            string text = File.ReadAllText(path);
            string json = text.TrimStart().StartsWith('{') ? text : FlatYaml.Parse(text, path).ToJsonString();
            return JsonSerializer.Deserialize<T>(json, new JsonSerializerOptions
            {
                PropertyNameCaseInsensitive = true,
                UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            }) ?? new T();
        }
        catch (JsonException e)
        {
            throw new P2PDistException($"--config {path}: {e.Message}");
        }
    }

    /// <summary>Parses <c>key=value,key=value</c> (labels on the command line or in the environment).</summary>
    public static Dictionary<string, string> ParseLabels(string text, string where)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = pair.IndexOf('=');
            if (equals <= 0)
                throw new P2PDistException($"{where}: '{pair}' is not key=value");
            labels[pair[..equals]] = pair[(equals + 1)..];
        }
        return labels;
    }
}
