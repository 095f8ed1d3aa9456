using System.Globalization;
using P2PDist.Rafs;

namespace P2PDist.Cli;

/// <summary>Parses sizes such as 65536, 64K, 1M, 16M.</summary>
internal static class SizeParser
{
    public static uint Parse(string text, string option)
    {
        long value = ParseLong(text, option);
        if (value > uint.MaxValue)
            throw new P2PDistException($"{option}: '{text}' is too large");
        return (uint)value;
    }

    /// <summary>Sizes up to exabytes: 123, 64K, 500M, 20G, 1T.</summary>
    public static long ParseLong(string text, string option)
    {
        text = text.Trim().ToUpperInvariant().TrimEnd('B', 'I');
        ulong multiplier = 1;
        string digits = text;
        foreach (var (suffix, factor) in new[] { ('K', 1UL << 10), ('M', 1UL << 20), ('G', 1UL << 30), ('T', 1UL << 40) })
        {
            if (text.EndsWith(suffix))
            {
                multiplier = factor;
                digits = text[..^1];
            }
        }
        if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) || value > long.MaxValue / multiplier)
            throw new P2PDistException($"{option}: '{text}' is not a size (examples: 64K, 1M, 20G)");
        return (long)(value * multiplier);
    }
}
