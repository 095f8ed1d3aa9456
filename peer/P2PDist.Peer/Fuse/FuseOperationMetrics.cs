using Prometheus;

namespace P2PDist.Peer.Fuse;

/// <summary>
/// Latency of every FUSE request by operation and result, the way an operator of a lazy image finds out
/// whether containers wait on lookups, opens or reads. The operation label is bounded: the opcodes the file
/// system answers, the rest as "other"; the result is ok or error (see <see cref="IsError"/>: a lookup's ENOENT is an answer, not an error).
/// </summary>
public sealed class FuseOperationMetrics
{
    private static Histogram CreateHistogram(IMetricFactory create) => create.CreateHistogram("p2pdist_peer_fuse_operation_seconds",
        "Time the peer took to answer a FUSE request, by operation and result (error: an errno other than the protocol's ordinary answers, such as a lookup's ENOENT)", new HistogramConfiguration
        {
            LabelNames = ["operation", "result"],
            Buckets = [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
        });

    private static readonly (FuseOpcode Opcode, string Name)[] Named =
    [
        (FuseOpcode.Lookup, "lookup"), (FuseOpcode.Getattr, "getattr"), (FuseOpcode.Readlink, "readlink"), (FuseOpcode.Open, "open"),
        (FuseOpcode.Read, "read"), (FuseOpcode.Release, "release"), (FuseOpcode.Opendir, "opendir"), (FuseOpcode.Readdir, "readdir"),
        (FuseOpcode.Readdirplus, "readdirplus"), (FuseOpcode.Releasedir, "releasedir"), (FuseOpcode.Flush, "flush"), (FuseOpcode.Access, "access"),
        (FuseOpcode.Statfs, "statfs"), (FuseOpcode.Getxattr, "getxattr"), (FuseOpcode.Listxattr, "listxattr"), (FuseOpcode.Init, "init"),
    ];

    private const int Slots = 64;

    /// <summary>The labelled series by opcode and result, made once (so at 0 from the start, which rate() needs): a request then costs one array index, not a label lookup.</summary>
    private readonly Histogram.Child[,] _children;

    public FuseOperationMetrics(IMetricFactory create)
    {
        var seconds = CreateHistogram(create);
        var children = new Histogram.Child[Slots, 2];
        for (int opcode = 0; opcode < Slots; opcode++)
        {
            string name = Named.FirstOrDefault(n => (int)n.Opcode == opcode).Name ?? "other";
            children[opcode, 0] = seconds.WithLabels(name, "ok");
            children[opcode, 1] = seconds.WithLabels(name, "error");
        }
        _children = children;
    }

    /// <summary>The operations with a name of their own, for dashboards and tests.</summary>
    public static IEnumerable<string> OperationNames => Named.Select(n => n.Name).Append("other");

    /// <summary>
    /// Whether an answer is a failure an operator should see. A missing name (lookup ENOENT), a missing
    /// attribute (getxattr ENODATA) and a too-small attribute buffer (ERANGE: the kernel asks the size first)
    /// are how the protocol answers ordinary questions.
    /// </summary>
    internal static bool IsError(FuseOpcode opcode, int errno) => errno switch
    {
        0 => false,
        Errno.ENOENT => opcode != FuseOpcode.Lookup,
        Errno.ENODATA => opcode != FuseOpcode.Getxattr,
        Errno.ERANGE => opcode is not (FuseOpcode.Getxattr or FuseOpcode.Listxattr),
        _ => true,
    };

    internal void Observe(FuseOpcode opcode, int errno, TimeSpan elapsed)
    {
        bool failed = IsError(opcode, errno);
        int slot = (uint)opcode < Slots ? (int)opcode : 0;
        _children[slot, failed ? 1 : 0].Observe(elapsed.TotalSeconds);
    }
}
