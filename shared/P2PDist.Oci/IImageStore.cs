namespace P2PDist.Oci;

/// <summary>A manifest as fetched: its bytes (the digest covers exactly these), media type and digest.</summary>
public sealed record FetchedManifest(byte[] Bytes, string MediaType, string Digest);

/// <summary>
/// A place images are read from and written to: a registry repository or an OCI image layout directory.
/// Every blob read through it is checked against its digest and size by the time the stream ends.
/// </summary>
public interface IImageStore : IDisposable
{
    ImageReference Reference { get; }

    Task<FetchedManifest> GetManifestAsync(string reference, CancellationToken cancellationToken);

    Task<Stream> OpenBlobAsync(Descriptor blob, CancellationToken cancellationToken);

    /// <summary>Reads <paramref name="length"/> bytes of a blob from <paramref name="offset"/> (not digest-checked: the caller checks what it reads).</summary>
    Task<byte[]> ReadBlobRangeAsync(string digest, long offset, int length, CancellationToken cancellationToken);

    Task<bool> BlobExistsAsync(string digest, CancellationToken cancellationToken);

    /// <summary>Tries a cross-repository mount from <paramref name="fromRepository"/> in the same registry; false when not offered.</summary>
    Task<bool> TryMountBlobAsync(string digest, string fromRepository, CancellationToken cancellationToken);

    /// <summary>Uploads a blob whose content <paramref name="open"/> yields (it may be called again on a retry).</summary>
    Task PushBlobAsync(string digest, long size, Func<Stream> open, CancellationToken cancellationToken);

    Task PushManifestAsync(string reference, byte[] manifest, string mediaType, CancellationToken cancellationToken);
}
