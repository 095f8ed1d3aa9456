namespace P2PDist.Conversion.Images;

/// <summary>What a conversion read and wrote; the dedup ratio is logical chunk bytes over stored chunk bytes.</summary>
public sealed class ConversionStats
{
    public int Layers { get; set; }
    public long LayerBytesCompressed { get; set; }
    public long TarBytes { get; set; }
    public long Files { get; set; }
    public long FileBytes { get; set; }
    public long ChunkReferences { get; set; }
    public long UniqueChunks { get; set; }
    public long DedupedChunkBytes { get; set; }
    public long DictionaryChunks { get; set; }
    public long DictionaryBytes { get; set; }
    public long StoredUncompressedBytes { get; set; }
    public long StoredCompressedBytes { get; set; }
    public long BootstrapBytes { get; set; }
    public TimeSpan Elapsed { get; set; }

    public double DedupRatio => StoredUncompressedBytes + DictionaryBytes == 0 ? 1 : (double)FileBytes / (StoredUncompressedBytes + DictionaryBytes);

    public IEnumerable<string> Describe()
    {
        yield return $"layers: {Layers} ({LayerBytesCompressed:N0} bytes compressed, {TarBytes:N0} bytes of tar)";
        yield return $"files: {Files:N0} regular, {FileBytes:N0} bytes";
        yield return $"chunks: {ChunkReferences:N0} referenced, {UniqueChunks:N0} stored new, {DictionaryChunks:N0} reused from the chunk dictionary";
        yield return $"stored: {StoredUncompressedBytes:N0} bytes in chunks, {StoredCompressedBytes:N0} bytes compressed in blobs";
        yield return $"dedup ratio: {DedupRatio:0.000} (file bytes / distinct chunk bytes); deduplicated {DedupedChunkBytes:N0} bytes";
        yield return $"bootstrap: {BootstrapBytes:N0} bytes";
        if (Elapsed > TimeSpan.Zero)
            yield return $"time: {Elapsed.TotalSeconds:0.00} s, {TarBytes / 1e6 / Math.Max(Elapsed.TotalSeconds, 1e-9):0.0} MB/s of uncompressed input";
    }
}
