namespace P2PDist.Conversion.Images;

/// <summary>Choices of `image unpack`: a bound on what a hostile bootstrap can make it write, and the privilege policy.</summary>
public sealed record UnpackOptions
{
    /// <summary>
    /// Logical bytes of all regular files together (--max-bytes), checked before anything is fetched or written:
    /// a 2 GiB bootstrap can reference one chunk 10^8 times, which would be exabytes (review M9).
    /// </summary>
    public long MaxTotalBytes { get; init; } = 64L << 30;

    /// <summary>
    /// Restore setuid/setgid bits, device nodes and security.* / trusted.* xattrs (--preserve-privileged). Off by
    /// default: as root they would hand an image's author a setuid-root binary, a raw disk device or a file
    /// capability in a tree other users may reach.
    /// </summary>
    public bool PreservePrivileged { get; init; }
}

/// <summary>What an unpack left out because <see cref="UnpackOptions.PreservePrivileged"/> was off.</summary>
public sealed record UnpackResult(int SetIdBitsCleared, int DeviceNodesSkipped, int PrivilegedXattrsSkipped)
{
    public bool LeftSomethingOut => SetIdBitsCleared + DeviceNodesSkipped + PrivilegedXattrsSkipped > 0;

    public string Describe() =>
        $"not restored: {SetIdBitsCleared} setuid/setgid bits, {DeviceNodesSkipped} device nodes, {PrivilegedXattrsSkipped} security/trusted xattrs (use --preserve-privileged)";
}
