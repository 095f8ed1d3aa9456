using System.Globalization;
using System.Text.Json.Nodes;
using P2PDist.Rafs;

namespace P2PDist.Settings;

/// <summary>
/// Reads the flat YAML the settings files need (`key: value` lines, `#` comments, quoted or bare scalars, and
/// flow sequences of scalars such as `[127.0.0.1:5000, mirror.local]` for list settings) into JSON, so YAML and JSON settings files share one deserializer. Nested YAML is refused with the line.
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
            result[key] = value.StartsWith('[') ? Sequence(value, fileName, lineNumber, key) : Scalar(value);
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

    /// <summary>A one-line flow sequence of scalars; nested sequences or mappings are refused with the line.</summary>
    private static JsonArray Sequence(string value, string fileName, int lineNumber, string key)
    {
        if (!value.EndsWith(']'))
            throw new P2PDistException($"{fileName} line {lineNumber}: {key}: a list must open and close on its line ([a, b])");
        var items = new JsonArray();
        string inner = value[1..^1];
        if (inner.Trim().Length == 0)
            return items;
        foreach (string item in SplitItems(inner))
        {
            string element = item.Trim();
            if (element.Length == 0 || element[0] is '[' or ']' or '{' or '}')
                throw new P2PDistException($"{fileName} line {lineNumber}: {key}: list items must be plain values, not '{element}'");
            items.Add(Scalar(element));
        }
        return items;
    }

    /// <summary>Splits on commas outside quotes (a quoted item may hold a comma).</summary>
    private static IEnumerable<string> SplitItems(string inner)
    {
        char quote = '\0';
        int start = 0;
        for (int i = 0; i < inner.Length; i++)
        {
            if (quote != '\0')
            {
                if (inner[i] == quote)
                    quote = '\0';
            }
            else if (inner[i] is '"' or '\'')
                quote = inner[i];
            else if (inner[i] == ',')
            {
                yield return inner[start..i];
                start = i + 1;
            }
        }
        yield return inner[start..];
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
