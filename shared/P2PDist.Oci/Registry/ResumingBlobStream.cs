namespace P2PDist.Oci;

/// <summary>
/// A blob body that survives a dropped connection: when a read fails, or the body ends before the size the
/// descriptor declares, it asks again with <c>Range: bytes=POSITION-</c> and carries on (up to a number of
/// attempts, with backoff). Layers are read once, front to back, so restarting from byte 0 would mean
/// redoing all the work done on them.
/// </summary>
internal sealed class ResumingBlobStream : ReadOnlyStream
{
    private readonly Func<long, CancellationToken, Task<Stream>> _openAt;
    private readonly long _size;
    private readonly int _maxAttempts;
    private readonly TimeSpan _firstDelay;
    private readonly string _what;
    private readonly TimeProvider _time;
    private Stream _current;
    private long _position;

    public ResumingBlobStream(Stream first, Func<long, CancellationToken, Task<Stream>> openAt, long size, int maxAttempts, TimeSpan firstDelay, string what, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _current = first;
        _openAt = openAt;
        _size = size;
        _maxAttempts = maxAttempts;
        _firstDelay = firstDelay;
        _what = what;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var delay = _firstDelay;
        for (int attempt = 1; ; attempt++)
        {
            Exception? failure;
            try
            {
                int n = await _current.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n > 0 || buffer.Length == 0 || _size < 0 || _position >= _size)
                {
                    _position += n;
                    return n;
                }
                failure = new RegistryException(0, $"{_what}: connection closed at byte {_position} of {_size}");
            }
            catch (RegistryException e) when (e.StatusCode == 0)
            {
                failure = e;
            }
            if (attempt >= _maxAttempts)
                throw new RegistryException(0, $"{_what}: gave up after {attempt} attempts at byte {_position}: {failure.Message}", failure);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay *= 2;
            await _current.DisposeAsync().ConfigureAwait(false);
            try
            {
                _current = await _openAt(_position, cancellationToken).ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.StatusCode == 0 && attempt + 1 < _maxAttempts)
            {
                _current = Null; // the next read sees EOF and tries to reopen again
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        var scratch = new byte[buffer.Length];
        int n = Read(scratch, 0, scratch.Length);
        scratch.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _current.Dispose();
        base.Dispose(disposing);
    }
}
