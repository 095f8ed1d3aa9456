using P2PDist.Conversion.Native;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Writes a Rafs image's file system to a directory: every file type, modes, owners, times and xattrs, hard
/// links as links. It writes into a fresh sibling folder (mode 0700 until the end, so nobody else can reach a
/// half-written tree) and renames it into place at the end, so a failure leaves nothing behind; and it creates
/// each entry by name inside folders it made itself, never following a symlink, so nothing can be written
/// outside the target. Unless told to preserve them, privileged bits are left out (<see cref="UnpackOptions"/>).
/// </summary>
public sealed class ImageUnpacker(UnpackOptions options, IProgress<string>? progress = null)
{
    private const uint SetUid = 0x800, SetGid = 0x400;

    public ImageUnpacker(IProgress<string>? progress = null) : this(new UnpackOptions(), progress) { }

    public async Task<UnpackResult> UnpackAsync(RafsImage image, string targetDirectory, CancellationToken cancellationToken)
    {
        string target = Path.GetFullPath(targetDirectory);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new P2PDistException($"unpack target {target} exists and is not empty");
        CheckTotalBytes(image.Bootstrap, options.MaxTotalBytes);
        string parent = Path.GetDirectoryName(target) ?? throw new P2PDistException($"unpack target {target} has no parent folder");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.unpacking-{Environment.ProcessId}");
        if (Directory.Exists(staging))
            Directory.Delete(staging, recursive: true);
        if (OperatingSystem.IsWindows())
            throw new PlatformNotSupportedException("unpack writes POSIX file systems");
        Directory.CreateDirectory(staging, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var bootstrap = image.Bootstrap;
            var blobPaths = new Dictionary<uint, string>();
            for (uint b = 0; b < bootstrap.BlobCount; b++)
            {
                progress?.Report($"fetching blob {b + 1}/{bootstrap.BlobCount}");
                blobPaths[b] = await image.DownloadBlobAsync(bootstrap.GetBlob(b), cancellationToken).ConfigureAwait(false);
            }
            var result = await Task.Run(() => WriteTree(bootstrap, staging, blobPaths, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(target))
                Directory.Delete(target);
            Directory.Move(staging, target);
            return result;
        }
        catch
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>Sums the files' sizes (each inode once) before a byte is fetched; names the file that crosses the limit.</summary>
    private static void CheckTotalBytes(RafsBootstrap bootstrap, long limit)
    {
        var counted = new HashSet<uint>();
        ulong total = 0;
        foreach (var (relative, ino) in bootstrap.Walk())
        {
            var inode = bootstrap.GetInode(ino);
            if (!inode.IsRegular || !counted.Add(ino))
                continue;
            total += inode.Size; // below 2^52 each (chunk refs x 16 MiB), and the total stays under the limit until it throws: no wrap
            if (total > (ulong)limit)
                throw new P2PDistException($"unpack refused at '/{relative}' ({inode.Size:N0} bytes): the image's files add up to more than the {limit:N0}-byte limit (--max-bytes)");
        }
    }

    private UnpackResult WriteTree(RafsBootstrap bootstrap, string root, Dictionary<uint, string> blobPaths, CancellationToken cancellationToken)
    {
        var firstPathOfInode = new Dictionary<uint, string>();
        var skipped = new HashSet<uint>();
        var directories = new List<(string Path, RafsInode Inode)>();
        var tally = new Tally();
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
            if (skipped.Contains(ino))
                continue;
            if (firstPathOfInode.TryGetValue(ino, out var existing))
            {
                LibC.Link(existing, path);
                continue;
            }
            if (PosixMode.IsDevice(inode.Mode) && !options.PreservePrivileged)
            {
                skipped.Add(ino);
                tally.Devices++;
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
            ApplyMetadata(bootstrap, path, inode, tally);
        }
        // Directories last and deepest first: writing their children would otherwise change their mtime.
        for (int i = directories.Count - 1; i >= 0; i--)
            ApplyMetadata(bootstrap, directories[i].Path, directories[i].Inode, tally);
        return new UnpackResult(tally.SetIdBits, tally.Devices, tally.Xattrs);
    }

    private sealed class Tally
    {
        public int SetIdBits;
        public int Devices;
        public int Xattrs;
    }

    private void ApplyMetadata(RafsBootstrap bootstrap, string path, RafsInode inode, Tally tally)
    {
        LibC.LChown(path, inode.Uid, inode.Gid);
        foreach (var xattr in bootstrap.Xattrs(inode.Ino))
        {
            if (!options.PreservePrivileged && IsPrivilegedXattr(xattr.Name))
            {
                tally.Xattrs++;
                continue;
            }
            LibC.SetXattr(path, xattr.Name, xattr.Value);
        }
        if (inode.IsSymlink)
        {
            LibC.SetTimes(path, inode.MtimeSeconds, inode.MtimeNanoseconds);
            return;
        }
        uint mode = inode.Mode & PosixMode.PermissionMask;
        // setgid on a directory only makes new files inherit its group; on a file, like setuid, it grants privilege.
        uint dangerous = inode.IsDirectory ? SetUid : SetUid | SetGid;
        if (!options.PreservePrivileged && (mode & dangerous) != 0)
        {
            mode &= ~dangerous;
            tally.SetIdBits++;
        }
        LibC.Chmod(path, mode); // after chown, which clears setuid/setgid
        LibC.SetTimes(path, inode.MtimeSeconds, inode.MtimeNanoseconds);
    }

    /// <summary>security.* (capabilities, SELinux labels) and trusted.* (overlayfs metadata) need CAP_SYS_ADMIN or grant privilege.</summary>
    private static bool IsPrivilegedXattr(string name) =>
        name.StartsWith("security.", StringComparison.Ordinal) || name.StartsWith("trusted.", StringComparison.Ordinal);
}
