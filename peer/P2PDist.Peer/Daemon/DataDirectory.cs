using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The data directory holds private image data (chunks, bootstraps, materialised files) and the state file
/// with registry credentials: 0700, owned by the daemon's user. An existing, wider directory is tightened.
/// </summary>
internal static class DataDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Secure(string path)
    {
        if (File.Exists(path))
            throw new P2PDistException($"data dir {path} is a file, not a directory");
        Directory.CreateDirectory(path, OwnerOnly);
        if (File.GetUnixFileMode(path) != OwnerOnly)
            File.SetUnixFileMode(path, OwnerOnly);
    }
}
