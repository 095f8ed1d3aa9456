using P2PDist.Protos.Scheduler;

namespace P2PDist.Peer.P2P;

/// <summary>
/// The peer's stable id, made once and kept in the data directory so a restart rejoins as the same peer:
/// up to 40 characters of the host name (for operators reading the supernode's log) and a GUID that is
/// always kept whole, so two hosts with long, equal prefixes never collide (L7). Only characters the
/// supernode accepts (<see cref="PeerIds"/>); a stored id that is not valid is replaced.
/// </summary>
internal static class PeerIdentity
{
    private const int HostPrefix = 40;

    public static string Load(string dataDir)
    {
        string path = Path.Combine(dataDir, "peer-id");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } stored && PeerIds.IsValid(stored) && EndsWithGuid(stored))
            return stored;
        string id = Create(Environment.MachineName);
        Directory.CreateDirectory(dataDir);
        File.WriteAllText(path, id);
        return id;
    }

    /// <summary>Ids written before the GUID was kept whole (long host names cut it) are made anew.</summary>
    private static bool EndsWithGuid(string id) => id.Length >= 32 && !id.AsSpan(id.Length - 32).ContainsAnyExcept("0123456789abcdef");

    public static string Create(string hostName)
    {
        string host = PeerIds.Clean(hostName, HostPrefix);
        string guid = Guid.NewGuid().ToString("N");
        return host.Length > 0 ? $"{host}-{guid}" : guid;
    }
}
