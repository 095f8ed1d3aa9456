namespace P2PDist.Oci;

/// <summary>
/// Puts a deadline on every read of a response body, so a registry that stalls mid-blob fails the read
/// instead of hanging it. Owns the response, which it disposes with the stream.
/// </summary>
internal sealed class ReadTimeoutStream(Stream inner, TimeSpan timeout, string what, IDisposable? owner, TimeProvider? time = null) : ReadOnlyStream
{
    // One timer for the stream's life, re-armed per read (blob bodies are read in many pieces on the fetch path);
    // a new one only after it has fired, which ends the stream's use anyway.
    private CancellationTokenSource _timer = new(Timeout.InfiniteTimeSpan, time ?? TimeProvider.System);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_timer.TryReset())
        {
            _timer.Dispose();
            _timer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time ?? TimeProvider.System);
        }
        _timer.CancelAfter(timeout);
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timer.Token) : null;
        try
        {
            return await inner.ReadAsync(buffer, linked?.Token ?? _timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RegistryException(0, $"{what}: no data for {timeout.TotalSeconds:0.#} s", e);
        }
        catch (HttpRequestException e)
        {
            throw new RegistryException(0, $"{what}: connection failed mid-transfer: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new RegistryException(0, $"{what}: connection failed mid-transfer: {e.Message}", e);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        var rented = new byte[buffer.Length];
        int n = Read(rented, 0, rented.Length);
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owner?.Dispose();
            _timer.Dispose();
        }
        base.Dispose(disposing);
    }
}
