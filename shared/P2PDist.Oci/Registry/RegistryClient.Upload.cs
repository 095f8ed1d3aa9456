using System.Net;
using System.Net.Http.Headers;

namespace P2PDist.Oci;

// Blob uploads (distribution spec, "Pushing blobs"): a POST opens a session, then either one PUT with the
// whole blob (monolithic) or PATCHes of UploadChunkSize followed by a closing PUT (chunked); large blobs
// go chunked so no more than one chunk is ever held in memory. A failed session is restarted whole.
public sealed partial class RegistryClient
{
    public async Task PushBlobAsync(string digest, long size, Func<Stream> open, CancellationToken cancellationToken)
    {
        OciDigest.Require(digest, "blob upload");
        string what = $"upload of blob {digest} to {Reference.Registry}/{Repo}";
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var location = await StartUploadAsync(what, cancellationToken).ConfigureAwait(false);
                if (size <= _options.ChunkedUploadThreshold)
                    await PutMonolithicAsync(location, digest, open, what, cancellationToken).ConfigureAwait(false);
                else
                    await PutChunkedAsync(location, digest, open, what, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RegistryException e) when (attempt < _options.MaxAttempts && (e.StatusCode == 0 || e.StatusCode >= 500 || e.StatusCode == 404))
            {
                // A lost or expired upload session: start again from the first byte.
                await Task.Delay(_options.FirstRetryDelay * attempt, _options.Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<bool> TryMountBlobAsync(string digest, string fromRepository, CancellationToken cancellationToken)
    {
        string what = $"mount of blob {digest} from {fromRepository} into {Reference.Registry}/{Repo}";
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post,
            Url($"v2/{Repo}/blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(fromRepository)}")),
            what, pull: false, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created)
            return true;
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } session)
        {
            // The registry opened an ordinary upload instead; close it so it does not linger.
            using var cancel = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, Resolve(session)), what, pull: false, cancellationToken).ConfigureAwait(false);
        }
        return false;
    }

    private async Task<Uri> StartUploadAsync(string what, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, Url($"v2/{Repo}/blobs/uploads/")),
            what, pull: false, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw new RegistryException((int)response.StatusCode, $"{what}: opening the upload session got {(int)response.StatusCode}, expected 202");
        return Resolve(response.Headers.Location ?? throw new RegistryException(0, $"{what}: the registry sent no upload Location"));
    }

    private Uri Resolve(Uri location) => location.IsAbsoluteUri ? location : new Uri(_baseUri, location);

    private static Uri WithDigest(Uri location, string digest)
    {
        var builder = new UriBuilder(location);
        string query = builder.Query.TrimStart('?');
        builder.Query = (query.Length == 0 ? "" : query + "&") + "digest=" + Uri.EscapeDataString(digest);
        return builder.Uri;
    }

    private async Task PutMonolithicAsync(Uri location, string digest, Func<Stream> open, string what, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, WithDigest(location, digest)) { Content = new StreamContent(open()) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return request;
        }, what, pull: false, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Created)
            throw new RegistryException((int)response.StatusCode, $"{what}: the closing PUT got {(int)response.StatusCode} {await ErrorSnippetAsync(response).ConfigureAwait(false)}");
    }

    private async Task PutChunkedAsync(Uri location, string digest, Func<Stream> open, string what, CancellationToken cancellationToken)
    {
        var buffer = new byte[_options.UploadChunkSize];
        await using var source = open();
        long offset = 0;
        while (true)
        {
            int filled = 0;
            int n;
            while (filled < buffer.Length && (n = await source.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false)) > 0)
                filled += n;
            if (filled == 0)
                break;
            long start = offset;
            var current = location;
            using var response = await SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Patch, current) { Content = new ByteArrayContent(buffer, 0, filled) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                request.Content.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + filled - 1}");
                return request;
            }, what, pull: false, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Accepted)
                throw new RegistryException((int)response.StatusCode, $"{what}: PATCH of bytes {start}+{filled} got {(int)response.StatusCode}");
            location = Resolve(response.Headers.Location ?? location);
            offset += filled;
        }
        var closing = location;
        using var close = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, WithDigest(closing, digest)), what, pull: false, cancellationToken).ConfigureAwait(false);
        if (close.StatusCode != HttpStatusCode.Created)
            throw new RegistryException((int)close.StatusCode, $"{what}: the closing PUT got {(int)close.StatusCode}");
    }
}
