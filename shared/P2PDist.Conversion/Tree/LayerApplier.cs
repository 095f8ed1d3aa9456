using P2PDist.Conversion.Tar;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Tree;

/// <summary>
/// Applies one layer's tar entries to the merged tree with OCI layer semantics (image-spec layer.md):
/// later entries replace earlier ones, <c>.wh.NAME</c> deletes NAME from lower layers, <c>.wh..wh..opq</c>
/// hides everything lower layers put in its directory, hard links share one node, and missing parent
/// directories are created implicitly (umoci omits unchanged parents).
/// </summary>
public sealed class LayerApplier
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private readonly TreeNode _root;
    private readonly string _layerName;
    private readonly HashSet<(TreeNode Parent, string Name)> _addedInLayer = [];

    public LayerApplier(TreeNode root, string layerName)
    {
        _root = root;
        _layerName = layerName;
    }

    /// <summary>Applies an entry; for a regular file returns the node whose content the caller must fill.</summary>
    public TreeNode? Apply(TarEntryHeader entry)
    {
        string where = $"{_layerName}, entry '{entry.Path}'";
        var parts = LayerPath.Split(entry.Path, where);
        CheckXattrs(entry, where);
        if (parts.Length == 0)
        {
            if (entry.Kind != TarEntryKind.Directory)
                throw new P2PDistException($"{where}: the root must be a directory");
            SetAttributes(_root, entry);
            return null;
        }
        var parent = EnsureDirectory(parts[..^1], where);
        string name = parts[^1];

        if (name == OpaqueMarker)
        {
            foreach (var child in parent.Children!.Keys.ToList())
            {
                if (!_addedInLayer.Contains((parent, child)))
                    parent.Children.Remove(child);
            }
            return null;
        }
        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            string hidden = name[WhiteoutPrefix.Length..];
            if (hidden.Length == 0 || hidden is "." or "..")
                throw new P2PDistException($"{where}: malformed whiteout");
            if (!_addedInLayer.Contains((parent, hidden)))
                parent.Children!.Remove(hidden);
            return null;
        }

        bool existsInLayer = !_addedInLayer.Add((parent, name));
        parent.Children!.TryGetValue(name, out var existing);
        if (entry.Kind == TarEntryKind.Directory && existing is { IsDirectory: true })
        {
            SetAttributes(existing, entry); // a directory re-declared keeps its contents
            return null;
        }
        if (existsInLayer)
            throw new P2PDistException($"{where}: duplicate entry: the layer already holds this path");

        if (entry.Kind == TarEntryKind.HardLink)
        {
            parent.Children[name] = ResolveHardLinkTarget(entry, where);
            return null;
        }
        var node = entry.Kind == TarEntryKind.Directory ? TreeNode.NewDirectory() : new TreeNode(0);
        SetAttributes(node, entry);
        switch (entry.Kind)
        {
            case TarEntryKind.Symlink:
                if (entry.LinkName.Length == 0)
                    throw new P2PDistException($"{where}: symlink with an empty target");
                EntryMetadataLimits.CheckSymlinkTarget(entry.LinkName, where);
                node.SymlinkTarget = entry.LinkName;
                node.Size = (ulong)System.Text.Encoding.UTF8.GetByteCount(entry.LinkName);
                break;
            case TarEntryKind.CharDevice or TarEntryKind.BlockDevice:
                node.RdevMajor = entry.DevMajor;
                node.RdevMinor = entry.DevMinor;
                break;
        }
        parent.Children[name] = node;
        return entry.Kind == TarEntryKind.Regular ? node : null;
    }

    private TreeNode ResolveHardLinkTarget(TarEntryHeader entry, string where)
    {
        var targetParts = LayerPath.Split(entry.LinkName, where + " (hard link target)");
        var node = _root;
        foreach (var part in targetParts)
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out var next))
                throw new P2PDistException($"{where}: hard link to '{entry.LinkName}', which is not in the image");
            node = next;
        }
        if (node.IsDirectory)
            throw new P2PDistException($"{where}: hard link to directory '{entry.LinkName}'");
        return node;
    }

    private TreeNode EnsureDirectory(string[] parts, string where)
    {
        var node = _root;
        foreach (var part in parts)
        {
            if (!node.Children!.TryGetValue(part, out var next))
            {
                next = TreeNode.NewDirectory();
                node.Children[part] = next;
            }
            else if (!next.IsDirectory)
            {
                throw new P2PDistException($"{where}: parent '{part}' is not a directory (a {PosixMode.TypeLetter(next.Mode)} entry); a layer may not write through it");
            }
            node = next;
        }
        return node;
    }

    private static void SetAttributes(TreeNode node, TarEntryHeader entry)
    {
        uint type = entry.Kind switch
        {
            TarEntryKind.Regular => PosixMode.Regular,
            TarEntryKind.Symlink => PosixMode.Symlink,
            TarEntryKind.CharDevice => PosixMode.CharDevice,
            TarEntryKind.BlockDevice => PosixMode.BlockDevice,
            TarEntryKind.Directory => PosixMode.Directory,
            TarEntryKind.Fifo => PosixMode.Fifo,
            _ => throw new InvalidOperationException("hard links carry no attributes of their own"),
        };
        node.Mode = type | (entry.Mode & PosixMode.PermissionMask);
        node.Uid = entry.Uid;
        node.Gid = entry.Gid;
        node.MtimeSeconds = entry.MtimeSeconds;
        node.MtimeNanoseconds = entry.MtimeNanoseconds;
        node.Xattrs.Clear();
        foreach (var (k, v) in entry.Xattrs)
            node.Xattrs[k] = v;
    }

    private static void CheckXattrs(TarEntryHeader entry, string where)
    {
        foreach (var (name, value) in entry.Xattrs)
            EntryMetadataLimits.CheckXattr(name, value, where);
    }
}
