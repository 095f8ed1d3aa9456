namespace P2PDist.Peer.Daemon;

/// <summary>Request fields as they go into a log line or an error: clipped, and with control characters made visible.</summary>
internal static class LogText
{
    public static string Clip(string? value, int max = 200)
    {
        if (value is null)
            return "(none)";
        var text = value.Length > max ? value[..max] + "..." : value;
        return string.Create(text.Length, text, (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
        });
    }
}
