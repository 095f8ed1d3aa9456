using System.Globalization;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Limits one registry's egress on loopback with tc (an htb class matched on its source port). The root qdisc
/// of lo is machine-wide, so tests that shape traffic share one collection and never run at the same time.
/// </summary>
public sealed class LoopbackShaping : IAsyncDisposable
{
    private LoopbackShaping() { }

    public static async Task<LoopbackShaping> LimitAsync(int sourcePort, string rate)
    {
        await ProcessRunner.RunCheckedAsync("tc", "qdisc", "replace", "dev", "lo", "root", "handle", "1:", "htb", "default", "99");
        await ProcessRunner.RunCheckedAsync("tc", "class", "replace", "dev", "lo", "parent", "1:", "classid", "1:7", "htb", "rate", rate);
        await ProcessRunner.RunCheckedAsync("tc", "filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:", "prio", "1", "u32",
            "match", "ip", "sport", sourcePort.ToString(CultureInfo.InvariantCulture), "0xffff", "flowid", "1:7");
        return new LoopbackShaping();
    }

    public async ValueTask DisposeAsync() => await ProcessRunner.RunAsync("tc", ["qdisc", "del", "dev", "lo", "root"]);
}

[CollectionDefinition(Name)]
public sealed class LoopbackShapingCollection
{
    public const string Name = "loopback-shaping";
}
