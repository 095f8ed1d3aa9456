using System.Security.Cryptography;
using P2PDist.Rafs;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Builds one Rafs data blob: compressed chunks appended to a scratch file, with the blob's SHA-256 (its OCI
/// digest) computed as it grows. The blob is registered in the chunk table on its first chunk, so a layer
/// that adds no new chunk adds no blob.
/// </summary>
internal sealed class LayerBlobWriter : IDisposable
{
    private readonly string _path;
    private readonly ChunkTableBuilder _table;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private FileStream? _file;
    private int _blobIndex = -1;
    private ulong _size;
    private uint _chunks;

    public LayerBlobWriter(string path, ChunkTableBuilder table)
    {
        _path = path;
        _table = table;
    }

    public uint Append(ChunkCompression compression, ReadOnlySpan<byte> compressed, uint uncompressedSize, ChunkDigest digest)
    {
        if (_file is null)
        {
            _file = new FileStream(_path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            _blobIndex = _table.AddBlob(new RafsBlob("", 0, 0));
        }
        ulong offset = _size;
        _file.Write(compressed);
        _hash.AppendData(compressed);
        _size += (ulong)compressed.Length;
        _chunks++;
        return _table.Add(new RafsChunk((uint)_blobIndex, compression, offset, (uint)compressed.Length, uncompressedSize, digest));
    }

    /// <summary>Closes the blob and records its digest; returns null when the layer added no chunk.</summary>
    public BuiltBlob? Complete()
    {
        if (_file is null)
            return null;
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        _file = null;
        string digest = "sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset());
        _table.SetBlob(_blobIndex, new RafsBlob(digest, _size, _chunks));
        return new BuiltBlob(digest, (long)_size, _path);
    }

    public void Dispose()
    {
        _file?.Dispose();
        _hash.Dispose();
    }
}

/// <summary>A finished blob on local disk, ready to push.</summary>
public sealed record BuiltBlob(string Digest, long Size, string Path);
