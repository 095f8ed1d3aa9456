using P2PDist.Protos.Containerd.Types;

namespace P2PDist.Peer.Snapshotter;

/// <summary>
/// Where snapshots live on disk and what containerd mounts for each: an active snapshot is an overlay of its own
/// upper and work directories over its ancestors' directories, a Rafs image's layers collapsing into the one
/// FUSE mount of the image (it already shows the whole image). A snapshot with no ancestors is a bind mount.
/// </summary>
public sealed class SnapshotLayout(string root)
{
    public string Root { get; } = root;

    public string DirectoryOf(long id) => Path.Combine(Root, id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public string UpperOf(long id) => Path.Combine(DirectoryOf(id), "fs");

    public string WorkOf(long id) => Path.Combine(DirectoryOf(id), "work");

    public void Create(long id, bool withWork)
    {
        Directory.CreateDirectory(UpperOf(id));
        if (withWork)
            Directory.CreateDirectory(WorkOf(id));
    }

    public void Delete(long id)
    {
        string directory = DirectoryOf(id);
        if (Directory.Exists(directory))
            Directory.Delete(directory, recursive: true);
    }

    /// <summary>
    /// The lower directories of a snapshot over <paramref name="ancestors"/> (nearest first): each committed
    /// layer's directory, down to the first remote layer, which stands for its image's mount
    /// (<paramref name="imageRoot"/>, given when the chain has remote layers) and everything under it.
    /// </summary>
    public static List<string> Lowers(IReadOnlyList<SnapshotRecord> ancestors, string? imageRoot, Func<long, string> upperOf)
    {
        var lowers = new List<string>();
        foreach (var ancestor in ancestors)
        {
            if (ancestor.Remote is not null)
            {
                lowers.Add(imageRoot ?? throw new InvalidOperationException("a chain with a remote layer needs its image's root"));
                break;
            }
            lowers.Add(upperOf(ancestor.Id));
        }
        return lowers;
    }

    public Mount[] MountsFor(SnapshotRecord snapshot, List<string> lowers)
    {
        bool readOnly = snapshot.Kind == SnapshotKind.View;
        if (snapshot.Kind == SnapshotKind.Active && lowers.Count == 0)
            return [Bind(UpperOf(snapshot.Id), readOnly: false)];
        if (readOnly)
        {
            if (lowers.Count == 0)
                return [Bind(UpperOf(snapshot.Id), readOnly: true)];
            if (lowers.Count == 1)
                return [Bind(lowers[0], readOnly: true)];
            return [new Mount { Type = "overlay", Source = "overlay", Options = { "lowerdir=" + string.Join(':', lowers) } }];
        }
        return
        [
            new Mount
            {
                Type = "overlay",
                Source = "overlay",
                Options = { "workdir=" + WorkOf(snapshot.Id), "upperdir=" + UpperOf(snapshot.Id), "lowerdir=" + string.Join(':', lowers) },
            },
        ];
    }

    private static Mount Bind(string source, bool readOnly) =>
        new() { Type = "bind", Source = source, Options = { readOnly ? "ro" : "rw", "rbind" } };
}
