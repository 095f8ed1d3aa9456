using System.Net.Sockets;
using System.Runtime.InteropServices;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// Who is on the other end of a connection to the local API socket: SO_PEERCRED (the kernel's word, not the
/// client's) and the caller's groups from /proc. The socket file is 0600 (0660 with an API group), so this is
/// the second line: a socket left world-writable by mistake still answers only root and the API group.
/// </summary>
internal static class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    public readonly record struct Caller(int Pid, uint Uid, uint Gid);

    public static Caller? Of(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> ucred = stackalloc byte[12];
        try
        {
            if (socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) != 12)
                return null;
        }
        catch (SocketException)
        {
            return null;
        }
        return new Caller(MemoryMarshal.Read<int>(ucred), MemoryMarshal.Read<uint>(ucred[4..]), MemoryMarshal.Read<uint>(ucred[8..]));
    }

    /// <summary>Root always; otherwise a caller whose primary or supplementary groups include <paramref name="apiGroup"/>.</summary>
    public static bool IsAllowed(Caller caller, uint? apiGroup)
    {
        if (caller.Uid == 0)
            return true;
        if (apiGroup is not { } group)
            return false;
        return caller.Gid == group || SupplementaryGroups(caller.Pid).Contains(group);
    }

    private static IEnumerable<uint> SupplementaryGroups(int pid)
    {
        string? line;
        try
        {
            line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Groups:", StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // the caller is gone: nothing to allow
        }
        return line is null ? [] : line["Groups:".Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(g => uint.TryParse(g, out uint id) ? id : uint.MaxValue);
    }

    /// <summary>The id of a group named in /etc/group, for the --api-group setting.</summary>
    public static uint GroupId(string name)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == name && uint.TryParse(fields[2], out uint gid))
                return gid;
        }
        throw new P2PDistException($"api group '{name}' is not in /etc/group");
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "chown")]
    public static extern int Chown(string path, int owner, int group);
}
