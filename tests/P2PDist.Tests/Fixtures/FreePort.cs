using System.Net;
using System.Net.Sockets;

namespace P2PDist.Tests.Fixtures;

public static class FreePort
{
    /// <summary>A loopback port the OS just handed out (the small race with other binders is acceptable in tests).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
