namespace P2PDist.Rafs;

internal static class ChunkCodecLimits
{
    /// <summary>The most a chunk of <paramref name="chunkSize"/> bytes can occupy in a blob under any codec.</summary>
    public static int MaxCompressed(uint chunkSize) => ChunkCodec.MaxCompressedSize((int)chunkSize);
}
