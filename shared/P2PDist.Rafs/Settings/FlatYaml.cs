using System.Globalization;
using System.Text.Json.Nodes;
using P2PDist.Rafs;

namespace P2PDist.Settings;

/// <summary>
/// Reads the flat YAML the settings files need (`key: value` lines, `#` comments, quoted or bare scalars)
/// into JSON, so YAML and JSON settings files share one deserializer. Nested YAML is refused with the line.
/// </summary>
public static class FlatYaml
{
    public static JsonObject Parse(string text, string fileName)
    {
        var result = new JsonObject();
        int lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            string line = StripComment(raw).TrimEnd();
            if (line.Trim().Length == 0 || line.Trim() == "---")
                continue;
            if (char.IsWhiteSpace(line[0]))
                throw new P2PDistException($"{fileName} line {lineNumber}: nested settings are not supported (write key: value at the start of the line)");
            int colon = line.IndexOf(':');
            if (colon <= 0)
                throw new P2PDistException($"{fileName} line {lineNumber}: expected 'key: value'");
            string key = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            result[key] = Scalar(value);
        }
        return result;
    }

    private static string StripComment(string line)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] is '"' or '\'')
                quoted = !quoted;
            else if (line[i] == '#' && !quoted && (i == 0 || char.IsWhiteSpace(line[i - 1])))
                return line[..i];
        }
        return line;
    }

    private static JsonNode? Scalar(string value)
    {
        if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\''))
            return JsonValue.Create(value[1..^1]);
        if (value is "true" or "false")
            return JsonValue.Create(value == "true");
        if (value is "" or "null" or "~")
            return null;
        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long integer))
            return JsonValue.Create(integer);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double real))
            return JsonValue.Create(real);
        return JsonValue.Create(value);
    }
}
