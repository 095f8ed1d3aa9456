using System.Text.Json;
using System.Text.Json.Serialization;

namespace P2PDist.Settings;

/// <summary>Labels in a settings file: a JSON object, or (as flat YAML writes them) one "key=value,key=value" string.</summary>
public sealed class LabelsJsonConverter : JsonConverter<Dictionary<string, string>>
{
    public override Dictionary<string, string> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            try
            {
                return SettingsFile.ParseLabels(reader.GetString()!, "labels");
            }
            catch (P2PDist.Rafs.P2PDistException e)
            {
                throw new JsonException(e.Message);
            }
        }
        return JsonSerializer.Deserialize<Dictionary<string, string>>(ref reader) ?? new Dictionary<string, string>(StringComparer.Ordinal);
    }

    public override void Write(Utf8JsonWriter writer, Dictionary<string, string> value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value);
}
