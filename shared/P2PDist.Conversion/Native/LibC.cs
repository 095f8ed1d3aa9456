using System.Runtime.InteropServices;

namespace P2PDist.Conversion.Native;

/// <summary>
/// The few POSIX calls .NET has no API for: device nodes, ownership and times of symlinks, and extended
/// attributes. Each wrapper throws with the path and errno so a failed unpack says exactly where.
/// </summary>
internal static class LibC
{
    private const int AtFdcwd = -100;
    private const int AtSymlinkNofollow = 0x100;

    [DllImport("libc", SetLastError = true)]
    private static extern int mknod(string path, uint mode, ulong dev);

    [DllImport("libc", SetLastError = true)]
    private static extern int lchown(string path, uint owner, uint group);

    [DllImport("libc", SetLastError = true)]
    private static extern int chmod(string path, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string oldPath, string newPath);

    [DllImport("libc", SetLastError = true)]
    private static extern int utimensat(int dirfd, string path, long[] times, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint llistxattr(string path, byte[]? list, nuint size);

    [DllImport("libc", SetLastError = true)]
    private static extern nint lgetxattr(string path, string name, byte[]? value, nuint size);

    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    public static void MkNod(string path, uint mode, uint major, uint minor) => Check(mknod(path, mode, MakeDev(major, minor)), "mknod", path);

    public static void LChown(string path, uint uid, uint gid) => Check(lchown(path, uid, gid), "lchown", path);

    public static void Chmod(string path, uint mode) => Check(chmod(path, mode), "chmod", path);

    public static void Link(string existing, string path) => Check(link(existing, path), "link", path);

    public static void SetTimes(string path, long seconds, uint nanoseconds) =>
        Check(utimensat(AtFdcwd, path, [seconds, nanoseconds, seconds, nanoseconds], AtSymlinkNofollow), "utimensat", path);

    public static void SetXattr(string path, string name, byte[] value) =>
        Check(lsetxattr(path, name, value, (nuint)value.Length, 0), $"lsetxattr {name}", path);

    public static Dictionary<string, byte[]> GetXattrs(string path)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        nint size = llistxattr(path, null, 0);
        if (size <= 0)
            return result;
        var list = new byte[size];
        size = llistxattr(path, list, (nuint)list.Length);
        foreach (var name in System.Text.Encoding.UTF8.GetString(list, 0, (int)Math.Max(size, 0)).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            nint length = lgetxattr(path, name, null, 0);
            if (length < 0)
                continue;
            var value = new byte[length];
            length = lgetxattr(path, name, value, (nuint)value.Length);
            result[name] = value.AsSpan(0, (int)Math.Max(length, 0)).ToArray();
        }
        return result;
    }

    private static void Check(int result, string call, string path)
    {
        if (result != 0)
            throw new IOException($"{call} {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }
}
