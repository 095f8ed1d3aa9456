namespace P2PDist.Oci;

/// <summary>An image's config blob read whole into memory, bounded by its declared size before anything is fetched.</summary>
public static class ConfigBlob
{
    /// <summary>Real configs are kilobytes; a history of thousands of layers stays far below this.</summary>
    public const int MaxBytes = 16 << 20;

    public static async Task<byte[]> ReadAsync(IImageStore store, Descriptor config, CancellationToken cancellationToken)
    {
        if (config.Size is < 0 or > MaxBytes)
            throw new OciException($"{store.Reference}: config {config.Digest} declares {config.Size} bytes (limit {MaxBytes >> 20} MiB)");
        await using var stream = await store.OpenBlobAsync(config, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray(); // the store's stream checked the digest at its end
    }
}
