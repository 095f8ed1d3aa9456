namespace P2PDist.Peer.Daemon;

/// <summary>Reads /proc/self/mountinfo: is something mounted at a path?</summary>
internal static class MountTable
{
    public static bool IsMountPoint(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == full)
                return true;
        }
        return false;
    }

    /// <summary>The type and source of the file system mounted at a path (the top one), e.g. ("fuse.p2pdist", "p2pdist"), or null.</summary>
    public static (string Type, string Source)? FileSystemAt(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        (string, string)? type = null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            var fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && separator > 4 && separator + 2 < fields.Length && Unescape(fields[4]) == full)
                type = (fields[separator + 1], Unescape(fields[separator + 2]));
        }
        return type;
    }

    /// <summary>A FUSE mount made by a p2pdist peer (type fuse.p2pdist, source p2pdist), as <see cref="FileSystemAt"/> describes it.</summary>
    public static bool IsP2PDistFileSystem((string Type, string Source) mounted) => mounted is ("fuse.p2pdist", "p2pdist");

    /// <summary>The "major:minor" device of the file system mounted at a path, or null.</summary>
    public static string? DeviceOf(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        string? device = null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == full)
                device = fields[2]; // the last one listed is the one on top
        }
        return device;
    }

    // mountinfo escapes space, tab, newline and backslash as octal.
    private static string Unescape(string field) =>
        field.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
