namespace P2PDist.Peer.Daemon;

/// <summary>A mount request, as sent by `p2pdist mount` to the daemon's local API (and kept to remount after a restart).</summary>
public sealed record MountRequest
{
    public required string Reference { get; init; }
    public required string MountPoint { get; init; }
    public bool PlainHttp { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public string? CaCertificateFile { get; init; }
    public string Platform { get; init; } = "linux/amd64";

    /// <summary>
    /// A container's root file system: setuid bits and device nodes keep their meaning (as on an overlayfs
    /// root), so <see cref="MountPoint"/> is then only a name, mounted under the daemon's 0700 roots directory.
    /// Any other mount is nosuid,nodev.
    /// </summary>
    public bool ContainerRoot { get; init; }

    /// <summary>Set by the daemon at the first mount: a remount uses exactly this manifest, wherever the tag has moved.</summary>
    public string? ManifestDigest { get; init; }
}

/// <summary>One mount as `p2pdist mounts` shows it.</summary>
public sealed record MountInfo(
    string MountPoint,
    string Reference,
    string ManifestDigest,
    long ImageBytes,
    long BytesRead,
    long BytesFetched,
    long CacheHits,
    long CacheMisses,
    long ReadErrors,
    long DigestFailures,
    long PassthroughOpens,
    long BytesFromPeers,
    int ChunksCached,
    int ChunkCount);

public sealed record ApiError(string Error);
