using System.Runtime.InteropServices;

namespace P2PDist.Peer.Fuse;

/// <summary>The system calls a FUSE server needs: /dev/fuse, mount(2), umount2(2), ioctl(2), read(2), write(2).</summary>
internal static unsafe class FuseNative
{
    public const int ORdwr = 2;
    public const int OCloexec = 0x80000;
    public const ulong MsRdonly = 1;
    public const ulong MsNosuid = 2;
    public const ulong MsNodev = 4;
    public const int MntDetach = 2;
    public const uint FuseDevIocClone = 0x8004E500;

    [DllImport("libc", SetLastError = true, EntryPoint = "open")]
    public static extern int Open(string path, int flags);

    [DllImport("libc", SetLastError = true, EntryPoint = "close")]
    public static extern int Close(int fd);

    [DllImport("libc", SetLastError = true, EntryPoint = "mount")]
    public static extern int Mount(string source, string target, string fstype, ulong flags, string data);

    [DllImport("libc", SetLastError = true, EntryPoint = "umount2")]
    public static extern int Umount2(string target, int flags);

    [DllImport("libc", SetLastError = true, EntryPoint = "ioctl")]
    public static extern int Ioctl(int fd, ulong request, ref int argument);

    /// <summary>struct fuse_backing_map: the fd of a backing file for FUSE_DEV_IOC_BACKING_OPEN.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BackingMap
    {
        public int Fd;
        public uint Flags;
        public ulong Padding;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "ioctl")]
    public static extern int IoctlBacking(int fd, ulong request, ref BackingMap map);

    [DllImport("libc", SetLastError = true, EntryPoint = "ioctl")]
    public static extern int IoctlBackingClose(int fd, ulong request, ref uint backingId);

    [DllImport("libc", SetLastError = true, EntryPoint = "read")]
    public static extern nint Read(int fd, byte* buffer, nint count);

    [DllImport("libc", SetLastError = true, EntryPoint = "write")]
    public static extern nint Write(int fd, byte* buffer, nint count);

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
