using System.Text;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Tree;

/// <summary>
/// What Linux can store for one entry, checked while converting so that the converter never writes a bootstrap
/// that <see cref="RafsBootstrap.Validate"/> would refuse: a symlink target of at most PATH_MAX-1 bytes without
/// NUL (symlink(2)), xattr names of 1..255 bytes and values of at most 64 KiB (setxattr(2), linux/limits.h).
/// </summary>
internal static class EntryMetadataLimits
{
    public const int MaxSymlinkTarget = 4095;
    public const int MaxXattrName = 255;
    public const int MaxXattrValue = 65536;

    public static void CheckSymlinkTarget(string target, string where)
    {
        if (target.Contains('\0'))
            throw new P2PDistException($"{where}: symlink target contains a NUL byte");
        int bytes = Encoding.UTF8.GetByteCount(target);
        if (bytes > MaxSymlinkTarget)
            throw new P2PDistException($"{where}: symlink target of {bytes} bytes, over the {MaxSymlinkTarget}-byte limit");
    }

    public static void CheckXattr(string name, byte[] value, string where)
    {
        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes is 0 or > MaxXattrName || name.Contains('\0'))
            throw new P2PDistException($"{where}: xattr name '{name}' must be 1..{MaxXattrName} bytes without NUL");
        if (value.Length > MaxXattrValue)
            throw new P2PDistException($"{where}: xattr '{name}' value of {value.Length} bytes, over the {MaxXattrValue}-byte limit");
    }
}
