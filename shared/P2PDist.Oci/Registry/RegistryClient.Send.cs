using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace P2PDist.Oci;

// Sending one request: authentication per the distribution spec's challenge flow (anonymous first, then
// Basic or a Bearer token from the realm the 401 names), deadlines, and retries with backoff on 5xx and
// broken connections. A request is built afresh by a factory for every attempt.
public sealed partial class RegistryClient
{
    private AuthenticationHeaderValue? _pullAuthorization;
    private AuthenticationHeaderValue? _pushAuthorization;

    /// <summary>
    /// Bound on any answer read whole (manifests, tokens, error bodies, upload replies): HttpClient buffers those
    /// before a caller sees them, so the bound is set on the client (review L1). Blob bodies are streamed and
    /// not affected.
    /// </summary>
    internal const int MaxBufferedAnswer = 8 << 20;

    /// <summary>Same scheme, host and port as the registry: only such requests carry its credentials or token.</summary>
    private bool IsRegistryOrigin(Uri uri) =>
        uri.Scheme == _baseUri.Scheme && uri.Port == _baseUri.Port && string.Equals(uri.Host, _baseUri.Host, StringComparison.OrdinalIgnoreCase);

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> build, string what, bool pull,
        CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        bool authenticated = false;
        var delay = _options.FirstRetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            using var request = build();
            // Credentials and tokens belong to the registry: an upload Location on another host or scheme gets none (review L1).
            bool registryOrigin = IsRegistryOrigin(request.RequestUri!);
            if (registryOrigin)
                request.Headers.Authorization = pull ? _pullAuthorization ?? _pushAuthorization : _pushAuthorization;
            HttpResponseMessage response;
            using (var timeout = new CancellationTokenSource(_options.RequestTimeout, _options.Time))
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
            {
                try
                {
                    response = await _http.SendAsync(request, completion, deadline.Token).ConfigureAwait(false);
                }
                catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConfigurationLimitExceeded)
                {
                    throw new RegistryException(0, $"{what}: the answer of {request.RequestUri!.Authority} is larger than the {MaxBufferedAnswer:N0}-byte bound for registry answers", e);
                }
                catch (Exception e) when (e is HttpRequestException or IOException
                    || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    string reason = e is OperationCanceledException ? $"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s" : e.Message;
                    if (attempt >= _options.MaxAttempts)
                        throw new RegistryException(0, $"{what}: registry {Reference.Registry} unreachable after {attempt} attempts: {reason}", e);
                    await Task.Delay(delay, _options.Time, cancellationToken).ConfigureAwait(false);
                    delay *= 2;
                    continue;
                }
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && !registryOrigin)
            {
                response.Dispose();
                throw new RegistryException(401, $"{what}: {request.RequestUri!.GetLeftPart(UriPartial.Authority)} asked for credentials, which are sent only to the registry {_baseUri.GetLeftPart(UriPartial.Authority)}");
            }
            if (response.StatusCode == HttpStatusCode.Unauthorized && !authenticated)
            {
                var challenge = AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString());
                response.Dispose();
                var authorization = await AuthenticateAsync(challenge, pull, what, cancellationToken).ConfigureAwait(false);
                if (pull)
                    _pullAuthorization = authorization;
                else
                    _pushAuthorization = authorization;
                authenticated = true;
                attempt--; // the challenge round trip is not a failed attempt
                continue;
            }
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                response.Dispose();
                throw new RegistryException(401, $"{what}: registry {Reference.Registry} rejected the credentials");
            }
            if ((int)response.StatusCode >= 500 && attempt < _options.MaxAttempts)
            {
                response.Dispose();
                await Task.Delay(delay, _options.Time, cancellationToken).ConfigureAwait(false);
                delay *= 2;
                continue;
            }
            return response;
        }
    }

    private async Task<AuthenticationHeaderValue> AuthenticateAsync(AuthChallenge? challenge, bool pull, string what, CancellationToken cancellationToken)
    {
        var credentials = RegistryCredentials.Find(_options, Reference.Registry!);
        if (challenge is null)
            throw new RegistryException(401, $"{what}: registry {Reference.Registry} wants authentication but sent no WWW-Authenticate challenge");
        if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (credentials is not { } basic)
                throw new RegistryException(401, $"{what}: registry {Reference.Registry} wants a username and password (none given: use --username/--password or ~/.docker/config.json)");
            return new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{basic.User}:{basic.Password}")));
        }
        if (!challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || challenge["realm"] is not { } realm)
            throw new RegistryException(401, $"{what}: unsupported authentication challenge '{challenge.Scheme}' from {Reference.Registry}");

        string scope = challenge["scope"] ?? $"repository:{Repo}:{(pull ? "pull" : "pull,push")}";
        if (!pull && !scope.Contains("push", StringComparison.Ordinal))
            scope = $"repository:{Repo}:pull,push";
        var query = new List<string>();
        if (challenge["service"] is { } service)
            query.Add("service=" + Uri.EscapeDataString(service));
        query.Add("scope=" + Uri.EscapeDataString(scope));
        var realmUri = TokenRealmPolicy.Check(realm, _baseUri, credentials is not null, what);
        var tokenUri = new UriBuilder(realmUri) { Query = string.Join("&", query) }.Uri;

        using var request = new HttpRequestMessage(HttpMethod.Get, tokenUri);
        if (credentials is { } c)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _options.Time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, deadline.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConfigurationLimitExceeded)
        {
            throw new RegistryException(0, $"{what}: the answer of token service {realm} is larger than the {MaxBufferedAnswer:N0}-byte bound", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new RegistryException(0, $"{what}: token service {realm} unreachable: {e.Message}", e);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new RegistryException(401, $"{what}: token service {realm} rejected the credentials ({(int)response.StatusCode})");
            if (!response.IsSuccessStatusCode)
                throw new RegistryException((int)response.StatusCode, $"{what}: token service {realm} answered {(int)response.StatusCode}");
            using var document = ParseTokenAnswer(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false), realm, what);
            string? token = document.RootElement.TryGetProperty("token", out var t) ? t.GetString()
                : document.RootElement.TryGetProperty("access_token", out var a) ? a.GetString() : null;
            if (string.IsNullOrEmpty(token))
                throw new RegistryException(401, $"{what}: token service {realm} returned no token");
            return new AuthenticationHeaderValue("Bearer", token);
        }
    }

    private static JsonDocument ParseTokenAnswer(byte[] body, string realm, string what)
    {
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw new RegistryException(401, $"{what}: token service {realm} answered with something that is not JSON: {e.Message}", e);
        }
    }
}
