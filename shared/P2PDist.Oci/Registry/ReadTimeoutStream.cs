namespace P2PDist.Oci;

/// <summary>
/// Puts a deadline on every read of a response body, so a registry that stalls mid-blob fails the read
/// instead of hanging it. Owns the response, which it disposes with the stream.
/// </summary>
internal sealed class ReadTimeoutStream(Stream inner, TimeSpan timeout, string what, IDisposable? owner, TimeProvider? time = null) : ReadOnlyStream
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var timer = new CancellationTokenSource(timeout, time ?? TimeProvider.System);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            return await inner.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
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
        }
        base.Dispose(disposing);
    }
}
