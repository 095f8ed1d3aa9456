using Grpc.Core;
using Grpc.Net.Client;
using P2PDist.Protos;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// A connection to containerd's socket: every call in one namespace (and, during a pull, under one lease, so the
/// garbage collector leaves half-made content alone), each with its own deadline so a stuck containerd or
/// snapshotter fails the command instead of hanging it.
/// </summary>
public sealed class ContainerdConnection(string socketPath, string ns) : IDisposable
{
    public const string DefaultSocket = "/run/containerd/containerd.sock";

    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(60);

    public GrpcChannel Channel { get; } = UnixSocketChannel.For(socketPath, TimeSpan.FromSeconds(10));

    public string SocketPath { get; } = socketPath;

    public string Namespace { get; } = ns;

    public string? Lease { get; set; }

    public CallOptions Call(CancellationToken cancellationToken)
    {
        var headers = new Metadata { { "containerd-namespace", Namespace } };
        if (Lease is { } lease)
            headers.Add("containerd-lease", lease);
        return new CallOptions(headers, DateTime.UtcNow + CallDeadline, cancellationToken);
    }

    /// <summary>The error the CLI prints for a call containerd failed: what was asked, and containerd's own status.</summary>
    public P2PDistException Failed(string what, RpcException e)
    {
        string hint = e.StatusCode == StatusCode.Unavailable ? " (is containerd running, and is this its socket? --address or CONTAINERD_ADDRESS)" : "";
        return new P2PDistException($"containerd at {SocketPath} (namespace {Namespace}): {what}: {e.Status.StatusCode}: {e.Status.Detail}{hint}", e);
    }

    /// <summary>The socket from --address, else CONTAINERD_ADDRESS, else containerd's default (as ctr finds it).</summary>
    public static string SocketFrom(string? flag)
    {
        if (flag is { Length: > 0 })
            return flag;
        return Environment.GetEnvironmentVariable("CONTAINERD_ADDRESS") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultSocket;
    }

    /// <summary>The namespace from --namespace, else CONTAINERD_NAMESPACE, else "default" (as ctr finds it).</summary>
    public static string NamespaceFrom(string? flag)
    {
        if (flag is { Length: > 0 })
            return flag;
        return Environment.GetEnvironmentVariable("CONTAINERD_NAMESPACE") is { Length: > 0 } fromEnvironment ? fromEnvironment : "default";
    }

    public void Dispose() => Channel.Dispose();
}
