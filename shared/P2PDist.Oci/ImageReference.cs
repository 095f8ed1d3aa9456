using System.Text.RegularExpressions;

namespace P2PDist.Oci;

/// <summary>
/// Where an image lives: a registry reference <c>host[:port]/repo[:tag][@sha256:...]</c> or an OCI image layout
/// directory <c>oci:DIR[:tag]</c>. References without a registry host are refused rather than sent to a public
/// registry by default: this tool is for registries the operator names.
/// </summary>
public sealed partial record ImageReference
{
    public string? Registry { get; private init; }
    public string Repository { get; private init; } = "";
    public string? Tag { get; private init; }
    public string? Digest { get; private init; }
    public string? LayoutDirectory { get; private init; }

    public bool IsLayout => LayoutDirectory is not null;

    /// <summary>The tag or digest to ask the registry for; a digest wins over a tag.</summary>
    public string Reference => Digest ?? Tag ?? "latest";

    public static ImageReference Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new OciException("empty image reference");
        if (text.StartsWith("oci:", StringComparison.Ordinal))
            return ParseLayout(text[4..], text);

        string rest = text;
        string? digest = null;
        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            OciDigest.Require(digest, $"image reference '{text}'");
        }
        int slash = rest.IndexOf('/');
        if (slash <= 0)
            throw new OciException($"image reference '{text}' names no registry host (expected host[:port]/repository[:tag])");
        string host = rest[..slash];
        if (!host.Contains('.') && !host.Contains(':') && host != "localhost")
            throw new OciException($"image reference '{text}': '{host}' is not a registry host (expected host[:port]/repository[:tag])");
        string repoAndTag = rest[(slash + 1)..];
        string? tag = null;
        int colon = repoAndTag.LastIndexOf(':');
        if (colon >= 0)
        {
            tag = repoAndTag[(colon + 1)..];
            repoAndTag = repoAndTag[..colon];
            if (!TagPattern().IsMatch(tag))
                throw new OciException($"image reference '{text}': invalid tag '{tag}'");
        }
        if (!RepositoryPattern().IsMatch(repoAndTag))
            throw new OciException($"image reference '{text}': invalid repository name '{repoAndTag}'");
        return new ImageReference { Registry = host, Repository = repoAndTag, Tag = tag, Digest = digest };
    }

    private static ImageReference ParseLayout(string body, string text)
    {
        if (body.Length == 0)
            throw new OciException($"image reference '{text}' names no layout directory");
        string directory = body;
        string? tag = null;
        int colon = body.LastIndexOf(':');
        if (colon > body.LastIndexOf('/'))
        {
            directory = body[..colon];
            tag = body[(colon + 1)..];
        }
        return new ImageReference { LayoutDirectory = directory, Tag = tag, Repository = Path.GetFileName(directory.TrimEnd('/')) };
    }

    /// <summary>Whether <paramref name="tag"/> matches the distribution spec's tag grammar.</summary>
    public static bool IsValidTag(string tag) => TagPattern().IsMatch(tag);

    /// <summary>The same repository with another tag or digest.</summary>
    public ImageReference WithDigest(string digest) => this with { Digest = digest };

    public override string ToString()
    {
        if (IsLayout)
            return $"oci:{LayoutDirectory}{(Tag is null ? "" : ":" + Tag)}";
        return $"{Registry}/{Repository}{(Tag is null ? "" : ":" + Tag)}{(Digest is null ? "" : "@" + Digest)}";
    }

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex TagPattern();
}
