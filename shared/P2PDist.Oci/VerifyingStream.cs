using System.Security.Cryptography;

namespace P2PDist.Oci;

/// <summary>
/// Reads a blob and checks, when the end is reached, that it had the expected size and SHA-256 digest. A
/// reader that consumes the stream to the end therefore never accepts a blob the manifest did not pin.
/// </summary>
public sealed class VerifyingStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly string _expectedDigest;
    private readonly long _expectedSize;
    private readonly string _what;
    private long _read;
    private bool _verified;

    public VerifyingStream(Stream inner, string expectedDigest, long expectedSize, string what)
    {
        _inner = inner;
        _expectedDigest = expectedDigest;
        _expectedSize = expectedSize;
        _what = what;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        return Account(buffer[..n]);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Account(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            Verify();
            return 0;
        }
        _read += data.Length;
        if (_expectedSize >= 0 && _read > _expectedSize)
            throw new OciException($"{_what}: longer than the {_expectedSize} bytes its descriptor declares");
        _hash.AppendData(data);
        return data.Length;
    }

    private void Verify()
    {
        if (_verified)
            return;
        _verified = true;
        if (_expectedSize >= 0 && _read != _expectedSize)
            throw new OciException($"{_what}: truncated: {_read} bytes of the {_expectedSize} its descriptor declares");
        string actual = "sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset());
        if (actual != _expectedDigest)
            throw new OciException($"{_what}: digest mismatch: expected {_expectedDigest}, got {actual}");
    }

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
