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
