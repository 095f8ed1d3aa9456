namespace P2PDist.Peer.P2P;

/// <summary>The peer's stable id, made once and kept in the data directory so a restart rejoins as the same peer.</summary>
internal static class PeerIdentity
{
    public static string Load(string dataDir)
    {
        string path = Path.Combine(dataDir, "peer-id");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } id)
            return id;
        id = $"{Environment.MachineName}-{Guid.NewGuid():N}"[..Math.Min(64, Environment.MachineName.Length + 33)];
        Directory.CreateDirectory(dataDir);
        File.WriteAllText(path, id);
        return id;
    }
}
