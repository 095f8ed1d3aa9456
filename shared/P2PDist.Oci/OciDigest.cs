using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace P2PDist.Oci;

/// <summary>OCI content digests: this project produces and checks sha256 only (image-spec descriptor.md).</summary>
public static partial class OciDigest
{
    public static string Sha256(ReadOnlySpan<byte> content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public static bool IsValid(string digest) => Sha256Pattern().IsMatch(digest);

    public static void Require(string digest, string what)
    {
        if (!IsValid(digest))
            throw new OciException($"{what}: '{digest}' is not a sha256 digest");
    }

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial Regex Sha256Pattern();
}
