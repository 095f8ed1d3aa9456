namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A directory every user can traverse (0755, under /tmp). The tests' own work root is 0700, so a check made
/// as an unprivileged user there would be refused by the work root, not by the rule under test.
/// </summary>
public static class OpenDirectory
{
    public static string Create(string prefix)
    {
        string path = Path.Combine("/tmp", $"p2pdist-open-{prefix}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(path, (UnixFileMode)0x1ED);
        File.SetUnixFileMode(path, (UnixFileMode)0x1ED); // whatever the umask
        return path;
    }
}
