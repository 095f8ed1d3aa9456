using System.Globalization;
using P2PDist.Rafs;

namespace P2PDist.Cli;

/// <summary>Parses sizes such as 65536, 64K, 1M, 16M.</summary>
internal static class SizeParser
{
    public static uint Parse(string text, string option)
    {
        text = text.Trim().ToUpperInvariant().TrimEnd('B', 'I');
        ulong multiplier = 1;
        if (text.EndsWith('K')) { multiplier = 1024; text = text[..^1]; }
        else if (text.EndsWith('M')) { multiplier = 1024 * 1024; text = text[..^1]; }
        if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) || value * multiplier > uint.MaxValue)
            throw new P2PDistException($"{option}: '{text}' is not a size (examples: 64K, 1M)");
        return (uint)(value * multiplier);
    }
}
