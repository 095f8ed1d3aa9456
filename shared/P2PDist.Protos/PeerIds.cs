namespace P2PDist.Protos.Scheduler;

/// <summary>
/// What a peer id may be (L7): 1 to 128 characters of [A-Za-z0-9._:-]. Ids are logged, used as keys and
/// handed to other peers, so nothing that could steer a terminal or a log parser gets in.
/// </summary>
public static class PeerIds
{
    public const int MaxLength = 128;

    private static readonly System.Buffers.SearchValues<char> Allowed =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");

    public static bool IsValid(string? id) => id is { Length: > 0 and <= MaxLength } && !id.AsSpan().ContainsAnyExcept(Allowed);

    /// <summary>Keeps the allowed characters of <paramref name="text"/> (others become '-'), at most <paramref name="maxLength"/> of them.</summary>
    public static string Clean(string text, int maxLength)
    {
        var chars = text.Take(maxLength).Select(c => Allowed.Contains(c) ? c : '-').ToArray();
        return new string(chars);
    }
}
