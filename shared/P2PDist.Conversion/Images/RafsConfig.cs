using System.Text.Json;
using System.Text.Json.Nodes;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// The converted image's config: the source's, with <c>rootfs.diff_ids</c> naming the Rafs layers (the blobs,
/// then the bootstrap) instead of the source's tar layers. containerd pairs each manifest layer with a diff id
/// and names every layer snapshot by the chain of them (its unpacker refuses counts that differ), so a lazy pull
/// through containerd needs one diff id per Rafs layer. A Rafs layer is no tar, so its digest is its diff id, as
/// Nydus does. Everything else (entrypoint, environment, history) is the source's, in the source's order.
/// </summary>
public static class RafsConfig
{
    public static byte[] WithRafsLayers(byte[] sourceConfig, IEnumerable<string> layerDigests, string where)
    {
        JsonObject config;
        try
        {
            config = JsonNode.Parse(sourceConfig) as JsonObject ?? throw new P2PDistException($"{where}: the config is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new P2PDistException($"{where}: the config is not valid JSON: {e.Message}");
        }
        var rootfs = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layerDigests.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()) };
        config["rootfs"] = rootfs;
        return JsonSerializer.SerializeToUtf8Bytes(config);
    }
}
