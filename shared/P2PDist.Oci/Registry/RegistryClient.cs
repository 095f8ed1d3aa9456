using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace P2PDist.Oci;

/// <summary>
/// One repository of one registry, spoken to per the OCI distribution spec: manifests and blobs, ranged
/// reads, monolithic and chunked uploads, cross-repository mounts. Authentication (anonymous, basic,
/// bearer token) and retries live in <c>RegistryClient.Send.cs</c>.
/// </summary>
public sealed partial class RegistryClient : IImageStore
{
    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly Uri _baseUri;

    public RegistryClient(ImageReference reference, RegistryOptions options)
    {
        if (reference.IsLayout || reference.Registry is null)
            throw new ArgumentException("a registry reference is needed", nameof(reference));
        Reference = reference;
        _options = options;
        _baseUri = new Uri($"{(options.PlainHttp ? "http" : "https")}://{reference.Registry}/");
        _http = new HttpClient(CreateHandler(options), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan, MaxResponseContentBufferSize = MaxBufferedAnswer };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("p2pdist/1");
    }

    public ImageReference Reference { get; }

    private string Repo => Reference.Repository;

    private static SocketsHttpHandler CreateHandler(RegistryOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            // Blob GETs may redirect to storage; .NET drops the Authorization header on redirects, as it should.
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 5,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (options.SourceAddress is { } source)
            handler.ConnectCallback = SourceBoundConnect.From(source);
        if (options.CaCertificateFile is not null)
            handler.SslOptions = PrivateCa.ClientOptions(options.CaCertificateFile);
        return handler;
    }

    private Uri Url(string relative) => new(_baseUri, relative);

    public async Task<FetchedManifest> GetManifestAsync(string reference, CancellationToken cancellationToken)
    {
        ManifestReference.Require(reference, $"manifest of {Reference.Registry}/{Repo}");
        string what = $"manifest {Reference.Registry}/{Repo}:{reference}";
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{Repo}/manifests/{reference}"));
            request.Headers.Accept.ParseAdd(MediaTypes.ManifestAccept);
            return request;
        }, what, pull: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new RegistryException(404, $"{what}: not found");
        await EnsureSuccessAsync(response, what).ConfigureAwait(false);
        byte[] bytes = await ReadBoundedAsync(response, 4 << 20, what, cancellationToken).ConfigureAwait(false);
        string digest = OciDigest.Sha256(bytes);
        if (OciDigest.IsValid(reference) && reference != digest)
            throw new OciException($"{what}: content digest is {digest}, not the digest asked for");
        string mediaType = response.Content.Headers.ContentType?.MediaType ?? SniffMediaType(bytes);
        return new FetchedManifest(bytes, mediaType, digest);
    }

    private static string SniffMediaType(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        return document.RootElement.TryGetProperty("mediaType", out var m) ? m.GetString() ?? MediaTypes.OciManifest : MediaTypes.OciManifest;
    }

    public async Task<Stream> OpenBlobAsync(Descriptor blob, CancellationToken cancellationToken)
    {
        string what = $"blob {blob.Digest} of {Reference.Registry}/{Repo}";
        OciDigest.Require(blob.Digest, what);
        var first = await OpenBlobBodyAsync(blob.Digest, 0, what, cancellationToken).ConfigureAwait(false);
        var resuming = new ResumingBlobStream(first, (offset, ct) => OpenBlobBodyAsync(blob.Digest, offset, what, ct),
            blob.Size, _options.MaxAttempts, _options.FirstRetryDelay, what, _options.Time);
        return new VerifyingStream(resuming, blob.Digest, blob.Size, what);
    }

    /// <summary>The blob's body from <paramref name="offset"/> on; a registry that ignores Range is skipped forward.</summary>
    private async Task<Stream> OpenBlobBodyAsync(string digest, long offset, string what, CancellationToken cancellationToken)
    {
        var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{Repo}/blobs/{digest}"));
            if (offset > 0)
                request.Headers.Range = new RangeHeaderValue(offset, null);
            return request;
        }, what, pull: true, cancellationToken, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new RegistryException(404, $"{what}: not found");
            await EnsureSuccessAsync(response, what).ConfigureAwait(false);
            var body = new ReadTimeoutStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false),
                _options.RequestTimeout, what, response, _options.Time);
            if (offset > 0 && response.StatusCode == HttpStatusCode.OK)
                await SkipAsync(body, offset, what, cancellationToken).ConfigureAwait(false);
            return body;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async Task<byte[]> ReadBlobRangeAsync(string digest, long offset, int length, CancellationToken cancellationToken)
    {
        string what = $"blob {digest} bytes {offset}+{length} of {Reference.Registry}/{Repo}";
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, Url($"v2/{Repo}/blobs/{digest}"));
            request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
            return request;
        }, what, pull: true, cancellationToken, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new RegistryException(404, $"{what}: not found");
        await EnsureSuccessAsync(response, what).ConfigureAwait(false);
        await using var body = new ReadTimeoutStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false),
            _options.RequestTimeout, what, owner: null, _options.Time);
        if (response.StatusCode == HttpStatusCode.OK)
            await SkipAsync(body, offset, what, cancellationToken).ConfigureAwait(false); // the registry ignored Range
        var buffer = new byte[length];
        await body.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer;
    }

    private static async Task SkipAsync(Stream stream, long count, string what, CancellationToken cancellationToken)
    {
        var scratch = new byte[81920];
        while (count > 0)
        {
            int n = await stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, count)), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new OciException($"{what}: blob ended early");
            count -= n;
        }
    }

    public async Task<bool> BlobExistsAsync(string digest, CancellationToken cancellationToken)
    {
        string what = $"blob {digest} in {Reference.Registry}/{Repo}";
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, Url($"v2/{Repo}/blobs/{digest}")),
            what, pull: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return false;
        await EnsureSuccessAsync(response, what).ConfigureAwait(false);
        return true;
    }

    public async Task PushManifestAsync(string reference, byte[] manifest, string mediaType, CancellationToken cancellationToken)
    {
        ManifestReference.Require(reference, $"manifest upload to {Reference.Registry}/{Repo}");
        string what = $"manifest upload to {Reference.Registry}/{Repo}:{reference}";
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, Url($"v2/{Repo}/manifests/{reference}"))
            {
                Content = new ByteArrayContent(manifest),
            };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return request;
        }, what, pull: false, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what).ConfigureAwait(false);
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode)
            return;
        string body = await ErrorSnippetAsync(response).ConfigureAwait(false);
        throw new RegistryException((int)response.StatusCode, $"{what}: registry answered {(int)response.StatusCode} {response.ReasonPhrase}: {body.Trim()}");
    }

    /// <summary>
    /// The first 500 bytes of an error body, read with the request deadline: a streamed (blob) answer could
    /// otherwise be endless or stall (review L1). The status code alone still tells the story if this fails.
    /// </summary>
    private async Task<string> ErrorSnippetAsync(HttpResponseMessage response)
    {
        const int limit = 500;
        using var deadline = new CancellationTokenSource(_options.RequestTimeout, _options.Time);
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            var buffer = new byte[limit];
            int filled = 0, n;
            while (filled < limit && (n = await body.ReadAsync(buffer.AsMemory(filled), deadline.Token).ConfigureAwait(false)) > 0)
                filled += n;
            return System.Text.Encoding.UTF8.GetString(buffer, 0, filled);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            return "";
        }
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > limit)
            throw new OciException($"{what}: {response.Content.Headers.ContentLength} bytes, over the {limit}-byte limit for manifests");
        using var buffer = new MemoryStream();
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var scratch = new byte[81920];
        int n;
        while ((n = await body.ReadAsync(scratch, cancellationToken).ConfigureAwait(false)) > 0)
        {
            buffer.Write(scratch, 0, n);
            if (buffer.Length > limit)
                throw new OciException($"{what}: over the {limit}-byte limit for manifests");
        }
        return buffer.ToArray();
    }

    public void Dispose() => _http.Dispose();
}
