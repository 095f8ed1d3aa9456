namespace P2PDist.Peer.Snapshotter;

/// <summary>The labels of containerd's remote-snapshot protocol, and the bounds this snapshotter puts on labels.</summary>
public static class SnapshotLabels
{
    /// <summary>The chain id a layer's snapshot is committed under, when the snapshotter can provide it itself.</summary>
    public const string TargetRef = "containerd.io/snapshot.ref";

    public const string ImageRef = "containerd.io/snapshot/cri.image-ref";
    public const string ManifestDigest = "containerd.io/snapshot/cri.manifest-digest";
    public const string LayerDigest = "containerd.io/snapshot/cri.layer-digest";
    public const string PlainHttp = "containerd.io/snapshot/p2pdist.plain-http";

    /// <summary>Set on every snapshot this snapshotter serves lazily from a Rafs image.</summary>
    public const string Remote = "containerd.io/snapshot/p2pdist.remote";

    public const int MaxLabels = 64;

    /// <summary>containerd's own limit on a label (key and value together).</summary>
    public const int MaxLabelBytes = 4096;

    public const int MaxNameBytes = 1024;

    /// <summary>Null, or what is wrong with these labels, naming the label.</summary>
    public static string? Problem(IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count > MaxLabels)
            return $"{labels.Count} labels, at most {MaxLabels}";
        foreach (var (key, value) in labels)
        {
            if (key.Length == 0)
                return "a label with an empty key";
            if (System.Text.Encoding.UTF8.GetByteCount(key) + System.Text.Encoding.UTF8.GetByteCount(value) > MaxLabelBytes)
                return $"label {Clip(key)}: over {MaxLabelBytes} bytes";
        }
        return null;
    }

    public static string? NameProblem(string what, string name, bool mayBeEmpty = false)
    {
        if (name.Length == 0)
            return mayBeEmpty ? null : $"{what} is empty";
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
            return $"{what} is over {MaxNameBytes} bytes";
        if (name.Any(char.IsControl))
            return $"{what} {Clip(name)} has control characters";
        return null;
    }

    public static string Clip(string text) => text.Length <= 80 ? text : text[..80] + "...";
}
