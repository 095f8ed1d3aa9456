using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A minimal token service for the registry's bearer-token auth (Debian packages none): checks Basic
/// credentials, then issues an RS256 JWT whose x5c header carries the self-signed certificate the registry
/// trusts through its rootcertbundle, granting the scope asked for.
/// </summary>
public sealed class TokenIssuer : IDisposable
{
    public const string IssuerName = "p2pdist-test-issuer";
    private readonly HttpListener _listener;
    private readonly RSA _key;
    private readonly X509Certificate2 _certificate;
    private readonly string _service;
    private readonly string _user;
    private readonly string _password;

    private TokenIssuer(HttpListener listener, RSA key, X509Certificate2 certificate, string certificatePath, string realm, string service, string user, string password)
    {
        _listener = listener;
        _key = key;
        _certificate = certificate;
        CertificatePath = certificatePath;
        Realm = realm;
        _service = service;
        _user = user;
        _password = password;
        _ = Task.Run(ServeAsync);
    }

    public string CertificatePath { get; }
    public string Realm { get; }

    public static TokenIssuer Start(string directory, string service, string user, string password)
    {
        var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=p2pdist-test-token-signer", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        string certificatePath = Path.Combine(directory, "token-signer.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        int port = FreePort.Next();
        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        return new TokenIssuer(listener, key, certificate, certificatePath, $"http://127.0.0.1:{port}/token", service, user, password);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            using var response = context.Response;
            string? header = context.Request.Headers["Authorization"];
            string expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_user}:{_password}"));
            if (header != expected)
            {
                response.StatusCode = 401;
                continue;
            }
            string scope = context.Request.QueryString["scope"] ?? "";
            byte[] body = JsonSerializer.SerializeToUtf8Bytes(new { token = Issue(scope), expires_in = 300 });
            response.ContentType = "application/json";
            await response.OutputStream.WriteAsync(body);
        }
    }

    private string Issue(string scope)
    {
        var access = new List<object>();
        foreach (var item in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            if (parts.Length == 3)
                access.Add(new { type = parts[0], name = parts[1], actions = parts[2].Split(',') });
        }
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new { alg = "RS256", typ = "JWT", x5c = new[] { Convert.ToBase64String(_certificate.RawData) } };
        var claims = new { iss = IssuerName, sub = _user, aud = _service, exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access };
        string signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _listener.Close();
        _key.Dispose();
        _certificate.Dispose();
    }
}
