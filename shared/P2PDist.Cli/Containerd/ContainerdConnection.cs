using Grpc.Core;
using Grpc.Net.Client;
using P2PDist.Protos;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// A connection to containerd's socket: every call in one namespace (and, during a pull, under one lease, so the
/// garbage collector leaves half-made content alone), each with its own deadline.
/// </summary>
public sealed class ContainerdConnection(string socketPath, string ns) : IDisposable
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(60);

    public GrpcChannel Channel { get; } = UnixSocketChannel.For(socketPath, TimeSpan.FromSeconds(10));

    public string SocketPath { get; } = socketPath;

    public string? Lease { get; set; }

    public CallOptions Call()
    {
        var headers = new Metadata { { "containerd-namespace", ns } };
        if (Lease is { } lease)
            headers.Add("containerd-lease", lease);
        return new CallOptions(headers, DateTime.UtcNow + CallDeadline);
    }

    /// <summary>The socket from --address, else CONTAINERD_ADDRESS, else containerd's default (as ctr finds it).</summary>
    public static string SocketFrom(string? flag)
    {
        if (flag is { Length: > 0 })
            return flag;
        return Environment.GetEnvironmentVariable("CONTAINERD_ADDRESS") is { Length: > 0 } fromEnvironment ? fromEnvironment : "/run/containerd/containerd.sock";
    }

    public void Dispose() => Channel.Dispose();
}
