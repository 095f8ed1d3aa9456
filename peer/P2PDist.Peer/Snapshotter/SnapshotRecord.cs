namespace P2PDist.Peer.Snapshotter;

public enum SnapshotKind
{
    View = 1,
    Active = 2,
    Committed = 3,
}

/// <summary>Where a remote snapshot's files come from: one layer of a Rafs image, read through the image's FUSE mount.</summary>
public sealed record RemoteLayer(string ImageReference, string ManifestDigest, string LayerDigest, bool PlainHttp);

/// <summary>
/// One snapshot as the snapshotter keeps it. <see cref="Name"/> is containerd's key (for a committed snapshot its
/// name); it never becomes a path: a snapshot's directories are named by <see cref="Id"/>, a number this
/// snapshotter assigns.
/// </summary>
public sealed record SnapshotRecord
{
    public required long Id { get; init; }
    public required string Name { get; init; }
    public string Parent { get; init; } = "";
    public required SnapshotKind Kind { get; init; }
    public Dictionary<string, string> Labels { get; init; } = new(StringComparer.Ordinal);
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Set for a layer served lazily from a Rafs image: it has no directories of its own.</summary>
    public RemoteLayer? Remote { get; init; }
}
