using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PDist.Oci;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Pushes images whose blobs a test built byte by byte (hostile layers, hand-built bootstraps) to a real
/// registry, with a minimal config; for what <see cref="TestImage"/> cannot express.
/// </summary>
public static class RawImagePusher
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static async Task<string> PushAsync(string host, string repository, string tag, IReadOnlyList<(string MediaType, byte[] Blob)> layers,
        Dictionary<string, string>? annotations = null)
    {
        var reference = ImageReference.Parse($"{host}/{repository}:{tag}");
        using var client = new RegistryClient(reference, new RegistryOptions { PlainHttp = true });
        var descriptors = new List<Descriptor>();
        foreach (var (mediaType, blob) in layers)
        {
            string digest = OciDigest.Sha256(blob);
            await client.PushBlobAsync(digest, blob.Length, () => new MemoryStream(blob), CancellationToken.None);
            descriptors.Add(new Descriptor { MediaType = mediaType, Digest = digest, Size = blob.Length });
        }
        byte[] config = JsonSerializer.SerializeToUtf8Bytes(new { architecture = "amd64", os = "linux", rootfs = new { type = "layers", diff_ids = Array.Empty<string>() } });
        string configDigest = OciDigest.Sha256(config);
        await client.PushBlobAsync(configDigest, config.Length, () => new MemoryStream(config), CancellationToken.None);
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest, Size = config.Length },
            Layers = descriptors,
            Annotations = annotations,
        };
        await client.PushManifestAsync(tag, JsonSerializer.SerializeToUtf8Bytes(manifest, Json), MediaTypes.OciManifest, CancellationToken.None);
        return reference.ToString();
    }

    /// <summary>One gzip member; gzip readers decompress concatenated members as one stream (RFC 1952 2.2).</summary>
    public static byte[] GzipMember(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
            gzip.Write(data);
        return output.ToArray();
    }

    /// <summary>A gzip stream of <paramref name="count"/> copies of one member holding <paramref name="zeros"/> zero bytes: a bomb of count x zeros.</summary>
    public static void WriteZeroMembers(Stream output, int zeros, int count)
    {
        byte[] member = GzipMember(new byte[zeros]);
        for (int i = 0; i < count; i++)
            output.Write(member);
    }
}
