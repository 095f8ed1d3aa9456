using System.Net;
using System.Net.Sockets;

namespace P2PDist.Protos.Scheduler;

/// <summary>
/// What a peer's chunk-server address may be (L5): a literal IP and a non-zero port, the IP a unicast address
/// that is neither unspecified, multicast, broadcast nor link-local (169.254/16, fe80::/10: where cloud
/// metadata services live). Loopback is allowed only when the caller says so (tests and one-machine clusters).
/// The supernode stores the normalized form; a peer checks every holder address it is given before connecting.
/// </summary>
public static class PeerAddresses
{
    /// <summary>The normalized "ip:port" (IPv6 in brackets, IPv4-mapped IPv6 as IPv4), or null with the reason.</summary>
    public static string? Normalize(string? text, bool allowLoopback, out string reason)
    {
        reason = "";
        if (string.IsNullOrEmpty(text) || text.Length > 64 || !IPEndPoint.TryParse(text, out var endpoint) || endpoint.Port == 0 || !LooksLikeEndpoint(text))
        {
            reason = "is not ip:port";
            return null;
        }
        var address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        string? refused = Refused(address, allowLoopback);
        if (refused is not null)
        {
            reason = refused;
            return null;
        }
        return new IPEndPoint(address, endpoint.Port).ToString();
    }

    /// <summary>IPEndPoint.TryParse also takes a bare address (port 0) or "ip:port" with a scope; a holder address needs an explicit port.</summary>
    private static bool LooksLikeEndpoint(string text) => !text.Contains('%') && !text.Contains('/') && text.LastIndexOf(':') > 0;

    private static string? Refused(IPAddress address, bool allowLoopback)
    {
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            return "is the unspecified address";
        if (address.Equals(IPAddress.Broadcast))
            return "is the broadcast address";
        if (IPAddress.IsLoopback(address))
            return allowLoopback ? null : "is a loopback address (not allowed on this supernode)";
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            byte[] b = address.GetAddressBytes();
            if (b[0] >= 224 && b[0] <= 239)
                return "is a multicast address";
            if (b[0] == 169 && b[1] == 254)
                return "is a link-local address";
            if (b[0] == 0)
                return "is in 0.0.0.0/8 (this network)";
            return null;
        }
        if (address.IsIPv6Multicast)
            return "is a multicast address";
        if (address.IsIPv6LinkLocal)
            return "is a link-local address";
        return null;
    }
}
