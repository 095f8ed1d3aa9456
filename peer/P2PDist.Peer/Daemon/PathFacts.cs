using System.Runtime.InteropServices;

namespace P2PDist.Peer.Daemon;

/// <summary>What the kernel says about a path: its canonical form (realpath) and its type and size (statx,
/// whose layout is the same on every architecture). Managed APIs cannot tell a FIFO or /dev/zero from a file.</summary>
internal static unsafe class PathFacts
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxSize = 0x200;
    private const ushort TypeMask = 0xF000, RegularFile = 0x8000, Directory = 0x4000;

    /// <summary>The path with every symlink, "." and ".." resolved, or null if it does not exist.</summary>
    public static string? Canonical(string path)
    {
        byte* resolved = RealPath(path, null);
        if (resolved == null)
            return null;
        try
        {
            return Marshal.PtrToStringUTF8((IntPtr)resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    public static bool IsRegularFile(string path, out long size) => Type(path, out size) == RegularFile;

    public static bool IsDirectory(string path) => Type(path, out _) == Directory;

    private static ushort Type(string path, out long size)
    {
        byte* buffer = stackalloc byte[256];
        size = 0;
        if (Statx(AtFdCwd, path, 0, StatxType | StatxMode | StatxSize, buffer) != 0)
            return 0;
        size = *(long*)(buffer + 40);
        return (ushort)(*(ushort*)(buffer + 28) & TypeMask);
    }

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern byte* RealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void Free(byte* pointer);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);
}
