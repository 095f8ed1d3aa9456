using Grpc.Core;
using P2PDist.Security;

namespace P2PDist.Supernode;

/// <summary>
/// Binds a request's peer id to the caller's certificate (review finding H1). In mutual-TLS mode Kestrel has
/// already refused any caller without a peer certificate from the cluster CA; here a caller may act only as
/// the peer its certificate names, so nobody registers, announces, reports or asks for holders (and so wins
/// an origin election) as another peer. In --insecure mode there is no identity and every id is accepted.
/// </summary>
internal static class CallerIdentity
{
    /// <summary>Called first by every RPC handler with the peer id the request acts as.</summary>
    public static void Require(ServerCallContext context, string peerId)
    {
        var http = context.GetHttpContext();
        if (http.RequestServices.GetService<ClusterTls>() is not { } tls)
            return;
        var identity = tls.Check(http.Connection.ClientCertificate, ClusterRole.Peer, expectedName: null, out string reason);
        if (identity is null)
            throw Denied(http, $"caller refused: {reason}");
        if (!string.Equals(identity.Value.Name, peerId, StringComparison.Ordinal))
        {
            string shown = peerId.Length > 64 ? peerId[..64] + "..." : peerId;
            throw Denied(http, $"peer id '{shown}' is not the caller's: its certificate names peer {identity.Value.Name}");
        }
    }

    private static RpcException Denied(Microsoft.AspNetCore.Http.HttpContext http, string message, [System.Runtime.CompilerServices.CallerMemberName] string where = "")
    {
        http.RequestServices.GetRequiredService<SupernodeMetrics>().Rejected.Inc();
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CallerIdentity).FullName!)
            .LogWarning("refused a call from {Remote} ({Where}): {Reason}", http.Connection.RemoteIpAddress, where, message.ReplaceLineEndings(" "));
        return new RpcException(new Status(StatusCode.PermissionDenied, message));
    }
}
