using P2PDist.Rafs;

namespace P2PDist.Peer.Cache;

/// <summary>
/// How a chunk is named between peers and in the cache: <c>blake3-</c> or <c>sha256-</c> and 64 lower-case hex
/// digits, nothing else. A name that arrives from a neighbour is checked here before it becomes a path.
/// </summary>
public static class ChunkNames
{
    public static bool IsValid(string name) => TryParse(name, out _, out _);

    public static bool TryParse(string name, out DigestAlgorithm algorithm, out string hex)
    {
        algorithm = default;
        hex = "";
        var parts = name.Split('-');
        if (parts.Length != 2 || parts[0] is not ("blake3" or "sha256") || parts[1].Length != 64 || !parts[1].All(Uri.IsHexDigit) || parts[1] != parts[1].ToLowerInvariant())
            return false;
        algorithm = DigestAlgorithmNames.Parse(parts[0]);
        hex = parts[1];
        return true;
    }
}
