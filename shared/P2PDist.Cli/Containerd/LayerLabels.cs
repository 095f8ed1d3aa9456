using P2PDist.Peer.Snapshotter;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// The labels of a lazy layer Prepare: what CRI sends a remote snapshotter (containerd's snapshotters package),
/// plus the plain-HTTP hint the peer's snapshotter understands.
/// </summary>
public static class LayerLabels
{
    // The snapshotter reads exactly these: one set of names for both sides.
    public const string TargetRef = SnapshotLabels.TargetRef;
    public const string ImageRef = SnapshotLabels.ImageRef;
    public const string ManifestDigest = SnapshotLabels.ManifestDigest;
    public const string LayerDigest = SnapshotLabels.LayerDigest;
    public const string ImageLayers = "containerd.io/snapshot/cri.image-layers";
    public const string PlainHttp = SnapshotLabels.PlainHttp;

    /// <summary>containerd's limit on a label (key and value): the layer list keeps as many whole digests as fit.</summary>
    public const int MaxLabelBytes = SnapshotLabels.MaxLabelBytes;

    public static Dictionary<string, string> For(string imageRef, string manifestDigest, IReadOnlyList<string> layerDigests, int index, string chainId, bool plainHttp)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [TargetRef] = chainId,
            [ImageRef] = imageRef,
            [ManifestDigest] = manifestDigest,
            [LayerDigest] = layerDigests[index],
            [ImageLayers] = LayersFrom(layerDigests, index),
        };
        if (plainHttp)
            labels[PlainHttp] = "true";
        return labels;
    }

    private static string LayersFrom(IReadOnlyList<string> layerDigests, int index)
    {
        var kept = new List<string>();
        int bytes = ImageLayers.Length;
        for (int i = index; i < layerDigests.Count; i++)
        {
            int more = layerDigests[i].Length + (kept.Count > 0 ? 1 : 0);
            if (bytes + more > MaxLabelBytes)
                break;
            kept.Add(layerDigests[i]);
            bytes += more;
        }
        return string.Join(',', kept);
    }
}
