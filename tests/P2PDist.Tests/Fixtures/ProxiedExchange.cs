namespace P2PDist.Tests.Fixtures;

/// <summary>One request <see cref="CountingProxy"/> forwarded: what was asked, what the registry answered, and the body bytes sent back.</summary>
public sealed class ProxiedExchange(string method, string path, int status)
{
    private long _bodyBytes;

    public string Method { get; } = method;
    /// <summary>The path without the query string, e.g. <c>/v2/repo/blobs/sha256:…</c>.</summary>
    public string Path { get; } = path;
    public int Status { get; } = status;
    /// <summary>Response body bytes handed to the client so far (counted before each write, so a client never sees more than this).</summary>
    public long BodyBytes => Interlocked.Read(ref _bodyBytes);

    internal void Sent(int bytes) => Interlocked.Add(ref _bodyBytes, bytes);

    /// <summary>A blob GET of <paramref name="repository"/> that the registry answered with content (200 or 206).</summary>
    public bool IsBlobDownload(string repository) =>
        Method == "GET" && Path.StartsWith($"/v2/{repository}/blobs/", StringComparison.Ordinal) && Status is 200 or 206;

    public override string ToString() => $"{Method} {Path} {Status} {BodyBytes}";
}
