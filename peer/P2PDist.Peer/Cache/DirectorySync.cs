using System.Runtime.InteropServices;

namespace P2PDist.Peer.Cache;

/// <summary>
/// fsync(2) of a directory, which .NET has no API for: after a rename, the new name is durable only once its
/// directory is flushed (a power loss could otherwise bring back the old name, or none).
/// </summary>
internal static partial class DirectorySync
{
    private const int ORdonly = 0, ODirectory = 0x10000, OCloexec = 0x80000;

    [LibraryImport("libc", SetLastError = true, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", SetLastError = true, EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", SetLastError = true, EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>Flushes the directory's entries to disk; an IOException names the directory and the error.</summary>
    public static void Flush(string directory)
    {
        int fd = Open(directory, ORdonly | ODirectory | OCloexec);
        if (fd < 0)
            throw new IOException($"cannot open directory {directory} to flush it: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            Close(fd);
        }
    }
}
