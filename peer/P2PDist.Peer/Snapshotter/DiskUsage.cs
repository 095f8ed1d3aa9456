namespace P2PDist.Peer.Snapshotter;

/// <summary>Bytes and inodes under a directory, for containerd's Usage call; symbolic links are counted, never followed.</summary>
public static class DiskUsage
{
    public static (long Bytes, long Inodes) Of(string directory, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
            return (0, 0);
        long bytes = 0, inodes = 1;
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true, ReturnSpecialDirectories = false };
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            inodes++;
            if (entry is FileInfo file && (file.Attributes & FileAttributes.ReparsePoint) == 0)
                bytes += file.Length;
        }
        return (bytes, inodes);
    }
}
