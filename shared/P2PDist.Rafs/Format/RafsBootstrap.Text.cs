using System.Text;

namespace P2PDist.Rafs;

// Names, symlink targets and xattr names are bytes in the bootstrap and strings in the API. They are decoded
// strictly: a lossy decode would map two different invalid names onto the same U+FFFD string, so two entries
// could collide when unpacked or listed (review M9). Error messages use the lossy form, which cannot throw.
public sealed partial class RafsBootstrap
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    internal static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>Decodes bytes that must be valid UTF-8; <paramref name="what"/> and <paramref name="offset"/> name them in the error.</summary>
    internal static string StrictText(ReadOnlySpan<byte> bytes, long offset, string what)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new RafsFormatException(offset, $"{what} '{Utf8(bytes)}' is not valid UTF-8");
        }
    }

    internal static bool IsValidUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);
}
