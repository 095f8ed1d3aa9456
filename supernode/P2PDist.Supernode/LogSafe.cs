namespace P2PDist.Supernode;

/// <summary>
/// Text from the network made safe to log (L7): control characters (CR, ESC and the rest, which the console
/// formatter would pass to a terminal or a log parser) become '?', and the length is capped.
/// </summary>
internal static class LogSafe
{
    public static string Text(string? value, int maxLength = 512)
    {
        if (string.IsNullOrEmpty(value))
            return "";
        var text = value.Length > maxLength ? value[..maxLength] : value;
        if (text.AsSpan().IndexOfAnyInRange('\0', '\u001f') < 0 && !text.Any(c => char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029'))
            return value.Length > maxLength ? text + "..." : text;
        var chars = text.Select(c => char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' ? '?' : c).ToArray();
        return new string(chars) + (value.Length > maxLength ? "..." : "");
    }
}
