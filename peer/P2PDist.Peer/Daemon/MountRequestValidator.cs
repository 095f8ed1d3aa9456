using System.Text.RegularExpressions;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// Checks every field of a mount request from the local API before anything touches the file system or the
/// network, and answers with the field and the rule it broke. What comes back is the request the daemon acts
/// on: canonical paths, and no daemon-internal fields (a caller cannot choose the manifest digest: it became a
/// path once, review C2).
/// </summary>
internal static partial class MountRequestValidator
{
    private const int MaxPath = 4096;
    private const long MaxCaFileBytes = 1 << 20;

    public static MountRequest Validate(MountRequest request, PeerOptions options, Func<string, bool> isOurMount)
    {
        Require(request.Reference is { Length: > 0 and <= 1024 }, "reference", "must be 1 to 1024 characters");
        var reference = ImageReference.Parse(request.Reference); // names the part of the reference that is wrong
        if (reference.LayoutDirectory is { } layout)
            Require(Path.IsPathFullyQualified(layout) && PathFacts.IsDirectory(layout), "reference", "an oci: layout must be an absolute path to a directory");
        Require(PlatformPattern().IsMatch(request.Platform), "platform", "must be os/architecture[/variant] in lower case, e.g. linux/amd64");
        Require(request.Username is null || (request.Username.Length <= 256 && !request.Username.Any(char.IsControl)), "username",
            "must be at most 256 characters without control characters");
        Require(request.Password is null || request.Password.Length <= 8192, "password", "must be at most 8192 characters");
        string? caFile = null;
        if (request.CaCertificateFile is { } ca)
        {
            Require(ca.Length <= MaxPath && Path.IsPathFullyQualified(ca), "caCertificateFile", "must be an absolute path");
            caFile = PathFacts.Canonical(ca);
            Require(caFile is not null && PathFacts.IsRegularFile(caFile, out long size) && size <= MaxCaFileBytes, "caCertificateFile",
                $"must be a regular file of at most {MaxCaFileBytes} bytes");
        }
        string mountPoint = request.ContainerRoot ? ContainerRootPath(request.MountPoint, options) : PlainMountPoint(request.MountPoint, options, isOurMount);
        return request with { MountPoint = mountPoint, CaCertificateFile = caFile, ManifestDigest = null };
    }

    /// <summary>
    /// A mount for people and programs on the node: absolute, canonical (no symlink on the way, so the daemon
    /// mounts where it was asked), an empty directory (nothing gets hidden), never "/", never at or above or
    /// under the data directory, and not over something already mounted.
    /// </summary>
    private static string PlainMountPoint(string requested, PeerOptions options, Func<string, bool> isOurMount)
    {
        Require(requested is { Length: > 0 and <= MaxPath } && Path.IsPathFullyQualified(requested), "mountPoint", "must be an absolute path");
        string trimmed = requested.Length > 1 ? requested.TrimEnd('/') : requested;
        string canonical = PathFacts.Canonical(trimmed) ?? "";
        Require(canonical.Length > 0 && PathFacts.IsDirectory(canonical), "mountPoint", $"{LogText.Clip(trimmed)} does not exist or is not a directory");
        Require(canonical == trimmed, "mountPoint", $"{LogText.Clip(trimmed)} must be canonical (it resolves to {LogText.Clip(canonical)}): no symlinks, '.' or '..'");
        Require(canonical != "/", "mountPoint", "must not be /");
        string dataDir = options.DataDir.TrimEnd('/');
        Require(!IsSameOrUnder(canonical, dataDir) && !IsSameOrUnder(dataDir, canonical), "mountPoint",
            $"{canonical} must be neither the data directory {dataDir}, nor inside it, nor above it");
        Require(!isOurMount(canonical), "mountPoint", $"{canonical} is already a p2pdist mount of this peer");
        Require(!MountTable.IsMountPoint(canonical), "mountPoint", $"{canonical} is busy: something is already mounted there");
        Require(!Directory.EnumerateFileSystemEntries(canonical).Any(), "mountPoint", $"{canonical} must be empty (a mount would hide what it holds)");
        return canonical;
    }

    /// <summary>
    /// A container's root file system keeps setuid binaries and device nodes, as an overlayfs root would, so it
    /// lives only under the daemon's 0700 roots directory, where no other user of the node can reach it.
    /// </summary>
    private static string ContainerRootPath(string name, PeerOptions options)
    {
        Require(RootNamePattern().IsMatch(name), "mountPoint", "for a container root, a name of 1 to 128 characters [A-Za-z0-9._-] not starting with '.'");
        return Path.Combine(options.RootsDir, name);
    }

    private static bool IsSameOrUnder(string path, string directory) =>
        path == directory || path.StartsWith(directory + "/", StringComparison.Ordinal) || directory == "/";

    private static void Require(bool condition, string field, string rule)
    {
        if (!condition)
            throw new P2PDistException($"mount request field '{field}': {rule}");
    }

    [GeneratedRegex("^[a-z0-9_]{1,32}/[a-z0-9_]{1,32}(/[a-z0-9_.]{1,32})?$")]
    private static partial Regex PlatformPattern();

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex RootNamePattern();
}
