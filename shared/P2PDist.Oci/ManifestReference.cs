namespace P2PDist.Oci;

/// <summary>
/// The reference part of a manifest request (distribution spec, "Pulling manifests"): a tag or a digest. It
/// becomes a URL path segment, and callers may hand over strings from API requests, so anything else is
/// refused (review C2): a string with a ':' must be a digest this project accepts (sha256 and 64 lowercase
/// hex digits), anything without one must match the spec's tag grammar.
/// </summary>
public static class ManifestReference
{
    public static void Require(string reference, string what)
    {
        if (reference.Contains(':', StringComparison.Ordinal))
        {
            OciDigest.Require(reference, what);
            return;
        }
        if (!ImageReference.IsValidTag(reference))
            throw new OciException($"{what}: '{reference}' is neither a valid tag nor a sha256 digest");
    }
}
