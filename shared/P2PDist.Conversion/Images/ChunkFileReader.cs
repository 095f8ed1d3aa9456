using Microsoft.Win32.SafeHandles;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Reads a file's bytes chunk by chunk from locally held blobs, verifying every chunk against its digest
/// before a byte of it is written anywhere.
/// </summary>
internal sealed class ChunkFileReader : IDisposable
{
    private readonly RafsBootstrap _bootstrap;
    private readonly Dictionary<uint, SafeFileHandle> _blobs = [];
    private readonly ChunkCodec _codec = new();
    private readonly byte[] _compressed;
    private readonly byte[] _plain;

    public ChunkFileReader(RafsBootstrap bootstrap, Dictionary<uint, string> blobPaths)
    {
        _bootstrap = bootstrap;
        foreach (var (index, path) in blobPaths)
            _blobs[index] = File.OpenHandle(path);
        _compressed = new byte[ChunkCodec.MaxCompressedSize((int)bootstrap.ChunkSize)];
        _plain = new byte[bootstrap.ChunkSize];
    }

    /// <summary>Writes a regular file; chunks of zeros become holes, so sparse files stay sparse.</summary>
    public void WriteFile(uint ino, string path, string name)
    {
        using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        var (start, count) = _bootstrap.ChunkRefRange(ino);
        for (uint i = start; i < start + count; i++)
        {
            var chunkRef = _bootstrap.GetChunkRef(i);
            var data = ReadChunk(chunkRef.ChunkIndex, $"{name} at offset {chunkRef.FileOffset}");
            if (data.IndexOfAnyExcept((byte)0) < 0)
                output.Seek(data.Length, SeekOrigin.Current);
            else
                output.Write(data);
        }
        output.SetLength((long)_bootstrap.GetInode(ino).Size);
    }

    /// <summary>The verified, uncompressed bytes of one chunk (valid until the next call).</summary>
    public ReadOnlySpan<byte> ReadChunk(uint chunkIndex, string where)
    {
        var chunk = _bootstrap.GetChunk(chunkIndex);
        var compressed = _compressed.AsSpan(0, (int)chunk.CompressedSize);
        int read = RandomAccess.Read(_blobs[chunk.BlobIndex], compressed, (long)chunk.CompressedOffset);
        if (read != compressed.Length)
            throw new P2PDistException($"chunk {chunkIndex} of {where}: blob {_bootstrap.GetBlob(chunk.BlobIndex).Digest} ends early");
        var plain = _plain.AsSpan(0, (int)chunk.UncompressedSize);
        _codec.Decompress(chunk.Compression, compressed, plain, $"chunk {chunkIndex} of {where}");
        var actual = ChunkDigest.Compute(chunk.Digest.Algorithm, plain);
        if (!chunk.Digest.Matches(actual.Bytes))
            throw new ChunkDigestMismatchException(chunk.Digest, actual, $"blob {_bootstrap.GetBlob(chunk.BlobIndex).Digest} ({where})");
        return plain;
    }

    public void Dispose()
    {
        foreach (var handle in _blobs.Values)
            handle.Dispose();
        _codec.Dispose();
    }
}
