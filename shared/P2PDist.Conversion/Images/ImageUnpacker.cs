using P2PDist.Conversion.Native;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Writes a Rafs image's file system to a directory: every file type, modes, owners, times and xattrs, hard
/// links as links. It writes into a fresh sibling folder and renames it into place at the end, so a failure
/// leaves nothing behind; and it creates each entry by name inside folders it made itself, never following a
/// symlink, so nothing can be written outside the target.
/// </summary>
public sealed class ImageUnpacker(IProgress<string>? progress = null)
{
    public async Task UnpackAsync(RafsImage image, string targetDirectory, CancellationToken cancellationToken)
    {
        string target = Path.GetFullPath(targetDirectory);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new P2PDistException($"unpack target {target} exists and is not empty");
        string parent = Path.GetDirectoryName(target) ?? throw new P2PDistException($"unpack target {target} has no parent folder");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.unpacking-{Environment.ProcessId}");
        if (Directory.Exists(staging))
            Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var bootstrap = image.Bootstrap;
            var blobPaths = new Dictionary<uint, string>();
            for (uint b = 0; b < bootstrap.BlobCount; b++)
            {
                progress?.Report($"fetching blob {b + 1}/{bootstrap.BlobCount}");
                blobPaths[b] = await image.DownloadBlobAsync(bootstrap.GetBlob(b), cancellationToken).ConfigureAwait(false);
            }
            await Task.Run(() => WriteTree(bootstrap, staging, blobPaths, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(target))
                Directory.Delete(target);
            Directory.Move(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    private static void WriteTree(RafsBootstrap bootstrap, string root, Dictionary<uint, string> blobPaths, CancellationToken cancellationToken)
    {
        var firstPathOfInode = new Dictionary<uint, string>();
        var directories = new List<(string Path, RafsInode Inode)>();
        using var reader = new ChunkFileReader(bootstrap, blobPaths);
        foreach (var (relative, ino) in bootstrap.Walk())
        {
            cancellationToken.ThrowIfCancellationRequested();
            string path = relative.Length == 0 ? root : Path.Combine(root, relative);
            var inode = bootstrap.GetInode(ino);
            if (inode.IsDirectory)
            {
                Directory.CreateDirectory(path);
                directories.Add((path, inode));
                continue;
            }
            if (firstPathOfInode.TryGetValue(ino, out var existing))
            {
                LibC.Link(existing, path);
                continue;
            }
            firstPathOfInode[ino] = path;
            switch (inode.Mode & PosixMode.TypeMask)
            {
                case PosixMode.Regular:
                    reader.WriteFile(ino, path, $"'{relative}'");
                    break;
                case PosixMode.Symlink:
                    File.CreateSymbolicLink(path, bootstrap.SymlinkTarget(ino));
                    break;
                default:
                    LibC.MkNod(path, inode.Mode, inode.RdevMajor, inode.RdevMinor);
                    break;
            }
            ApplyMetadata(bootstrap, path, inode);
        }
        // Directories last and deepest first: writing their children would otherwise change their mtime.
        for (int i = directories.Count - 1; i >= 0; i--)
            ApplyMetadata(bootstrap, directories[i].Path, directories[i].Inode);
    }

    private static void ApplyMetadata(RafsBootstrap bootstrap, string path, RafsInode inode)
    {
        LibC.LChown(path, inode.Uid, inode.Gid);
        foreach (var xattr in bootstrap.Xattrs(inode.Ino))
            LibC.SetXattr(path, xattr.Name, xattr.Value);
        if (!inode.IsSymlink)
            LibC.Chmod(path, inode.Mode & PosixMode.PermissionMask); // after chown, which clears setuid/setgid
        LibC.SetTimes(path, inode.MtimeSeconds, inode.MtimeNanoseconds);
    }
}
