using System.Buffers;
using System.Diagnostics;
using P2PDist.Conversion.Tar;
using P2PDist.Conversion.Tree;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>The outcome of building a Rafs image locally, before it is pushed.</summary>
public sealed record BuiltImage(
    string BootstrapPath,
    string BootstrapDigest,
    IReadOnlyList<BuiltBlob> NewBlobs,
    IReadOnlyList<RafsBlob> AllBlobs,
    ResolvedImage Source,
    string? DictionaryRepository,
    ConversionStats Stats,
    TreeNode Tree,
    ChunkTableBuilder Chunks);

/// <summary>
/// Converts an OCI image into Rafs: streams each layer once (verified against its digest), applies it to the
/// merged tree, cuts every regular file into chunks that never span two files, stores each distinct chunk
/// once, and writes the bootstrap. Memory holds the tree and one chunk, never a layer.
/// </summary>
public sealed class ImageConverter
{
    private readonly ConvertOptions _options;
    private readonly IProgress<string>? _progress;

    public ImageConverter(ConvertOptions options, IProgress<string>? progress = null)
    {
        options.Validate();
        _options = options;
        _progress = progress;
    }

    public async Task<BuiltImage> BuildAsync(IImageStore source, string workDirectory, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var image = await ManifestResolver.ResolveAsync(source, _options.Platform, cancellationToken).ConfigureAwait(false);
        ChunkDictionary? dictionary = await LoadDictionaryAsync(workDirectory, cancellationToken).ConfigureAwait(false);

        var root = TreeNode.NewDirectory();
        var table = new ChunkTableBuilder();
        var stats = new ConversionStats { Layers = image.Manifest.Layers.Count };
        var blobs = new List<BuiltBlob>();
        for (int i = 0; i < image.Manifest.Layers.Count; i++)
        {
            var layer = image.Manifest.Layers[i];
            string layerName = $"{source.Reference} layer {i} ({layer.Digest})";
            _progress?.Report($"layer {i + 1}/{image.Manifest.Layers.Count}: {layer.Digest[..19]} ({layer.Size:N0} bytes)");
            using var writer = new LayerBlobWriter(Path.Combine(workDirectory, $"blob-{i}"), table);
            await ApplyLayerAsync(source, layer, layerName, root, table, writer, dictionary, stats, cancellationToken).ConfigureAwait(false);
            if (writer.Complete() is { } blob)
                blobs.Add(blob);
            stats.LayerBytesCompressed += layer.Size;
        }

        var bootstrap = new BootstrapWriter(_options.Digest, _options.ChunkSize).Write(root, table, _options.PrefetchPaths);
        string bootstrapPath = Path.Combine(workDirectory, "bootstrap");
        await File.WriteAllBytesAsync(bootstrapPath, bootstrap, cancellationToken).ConfigureAwait(false);
        stats.BootstrapBytes = bootstrap.Length;
        stats.UniqueChunks = table.Chunks.Count - stats.DictionaryChunks;
        stats.StoredCompressedBytes = blobs.Sum(b => b.Size);
        stats.Elapsed = clock.Elapsed;
        return new BuiltImage(bootstrapPath, OciDigest.Sha256(bootstrap), blobs, table.Blobs, image, dictionary?.Repository, stats, root, table);
    }

    /// <summary>
    /// The same image with another prefetch table: only the bootstrap is written again (the blobs are the
    /// same), as <c>image optimize</c> does once it has recorded what the workload reads.
    /// </summary>
    public async Task<BuiltImage> WithPrefetchTableAsync(BuiltImage built, IReadOnlyList<string> prefetchPaths, string workDirectory, CancellationToken cancellationToken)
    {
        var bootstrap = new BootstrapWriter(_options.Digest, _options.ChunkSize).Write(built.Tree, built.Chunks, prefetchPaths);
        string bootstrapPath = Path.Combine(workDirectory, "bootstrap-prefetch");
        await File.WriteAllBytesAsync(bootstrapPath, bootstrap, cancellationToken).ConfigureAwait(false);
        built.Stats.BootstrapBytes = bootstrap.Length;
        return built with { BootstrapPath = bootstrapPath, BootstrapDigest = OciDigest.Sha256(bootstrap) };
    }

    private async Task<ChunkDictionary?> LoadDictionaryAsync(string workDirectory, CancellationToken cancellationToken)
    {
        if (_options.ChunkDictionary is null)
            return null;
        var reference = ImageReference.Parse(_options.ChunkDictionary);
        using var store = ImageStores.Open(reference, RegistryOptionsForDictionary);
        using var dictionaryImage = await RafsImage.OpenAsync(store, _options.Platform, workDirectory, cancellationToken).ConfigureAwait(false);
        if (dictionaryImage.Bootstrap.DigestAlgorithm != _options.Digest)
            throw new P2PDistException($"chunk dictionary {reference} uses {dictionaryImage.Bootstrap.DigestAlgorithm.Name()} digests; this conversion uses {_options.Digest.Name()}");
        _progress?.Report($"chunk dictionary {reference}: {dictionaryImage.Bootstrap.ChunkCount:N0} chunks");
        return new ChunkDictionary(dictionaryImage.Bootstrap, reference.IsLayout ? "" : reference.Repository);
    }

    /// <summary>Registry settings for reading the chunk dictionary; the CLI sets them to the target's.</summary>
    public RegistryOptions RegistryOptionsForDictionary { get; init; } = new();

    private async Task ApplyLayerAsync(IImageStore source, Descriptor layer, string layerName, TreeNode root, ChunkTableBuilder table,
        LayerBlobWriter writer, ChunkDictionary? dictionary, ConversionStats stats, CancellationToken cancellationToken)
    {
        await using var verified = await source.OpenBlobAsync(layer, cancellationToken).ConfigureAwait(false);
        await using var tar = LayerDecompression.Open(new NonDisposingStream(verified), layerName);
        var (budget, budgetReason) = _options.Limits.LayerByteBudget(layer.Size);
        var counting = new LayerByteLimitStream(tar, layerName, budget, budgetReason);
        // Tar parsing and chunking are synchronous CPU work on a stream; run them off the caller's context.
        await Task.Run(() =>
        {
            var reader = new TarStreamReader(counting);
            var applier = new LayerApplier(root, layerName);
            using var codec = new ChunkCodec();
            byte[] chunk = ArrayPool<byte>.Shared.Rent((int)_options.ChunkSize);
            byte[] compressed = ArrayPool<byte>.Shared.Rent(ChunkCodec.MaxCompressedSize((int)_options.ChunkSize));
            try
            {
                TarEntryHeader? entry;
                long entries = 0;
                while ((entry = NextEntry(reader, layerName)) is not null)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    CheckEntryLimits(entry, ++entries, layerName);
                    var node = applier.Apply(entry);
                    if (node is null)
                        continue;
                    node.Size = (ulong)entry.Size;
                    stats.Files++;
                    stats.FileBytes += entry.Size;
                    long remaining = entry.Size;
                    while (remaining > 0)
                    {
                        int want = (int)Math.Min(remaining, _options.ChunkSize);
                        int got = ReadEntryData(reader, chunk.AsSpan(0, want), layerName, entry);
                        if (got != want)
                            throw new P2PDistException($"{layerName}, entry '{entry.Path}': layer ends {remaining - got} bytes before the file does (truncated layer)");
                        remaining -= got;
                        node.Chunks.Add(StoreChunk(chunk.AsSpan(0, got), compressed, codec, table, writer, dictionary, stats));
                    }
                }
                // Stop at the end-of-archive marker: whatever a compressed stream holds after it is never
                // inflated (it could be a bomb). The digest is still checked, on the compressed bytes, below.
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
                ArrayPool<byte>.Shared.Return(compressed);
            }
        }, cancellationToken).ConfigureAwait(false);
        // Read the blob to its end so VerifyingStream checks the size and digest of the whole layer as pushed.
        await verified.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        stats.TarBytes += counting.BytesRead;
    }

    private void CheckEntryLimits(TarEntryHeader entry, long entries, string layerName)
    {
        var limits = _options.Limits;
        if (entries > limits.MaxLayerEntries)
            throw new P2PDistException($"{layerName}, entry '{entry.Path}': refused, the layer has more than {limits.MaxLayerEntries:N0} entries (--max-layer-entries)");
        if (entry.Kind == TarEntryKind.Regular && entry.Size > limits.MaxFileBytes)
            throw new P2PDistException($"{layerName}, entry '{entry.Path}': refused, a file of {entry.Size:N0} bytes is over the {limits.MaxFileBytes:N0}-byte limit per file (--max-file-bytes)");
    }

    private static TarEntryHeader? NextEntry(TarStreamReader reader, string layerName)
    {
        try
        {
            return reader.Next();
        }
        catch (TarFormatException e)
        {
            throw new P2PDistException($"{layerName}: {e.Message}", e);
        }
    }

    private static int ReadEntryData(TarStreamReader reader, Span<byte> buffer, string layerName, TarEntryHeader entry)
    {
        try
        {
            return reader.ReadDataFully(buffer);
        }
        catch (TarFormatException e)
        {
            throw new P2PDistException($"{layerName}, entry '{entry.Path}': {e.Message}", e);
        }
    }

    private uint StoreChunk(ReadOnlySpan<byte> data, byte[] compressed, ChunkCodec codec, ChunkTableBuilder table,
        LayerBlobWriter writer, ChunkDictionary? dictionary, ConversionStats stats)
    {
        stats.ChunkReferences++;
        var digest = ChunkDigest.Compute(_options.Digest, data);
        if (table.TryFind(digest, out uint known))
        {
            stats.DedupedChunkBytes += data.Length;
            return known;
        }
        if (dictionary is not null && dictionary.TryReuse(digest, table, out uint reused))
        {
            stats.DictionaryChunks++;
            stats.DictionaryBytes += data.Length;
            return reused;
        }
        var used = codec.Compress(_options.Compression, data, compressed, out int written);
        stats.StoredUncompressedBytes += data.Length;
        return writer.Append(used, compressed.AsSpan(0, written), (uint)data.Length, digest);
    }
}
