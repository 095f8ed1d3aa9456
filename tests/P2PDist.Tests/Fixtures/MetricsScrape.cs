using System.Globalization;
using System.Text.RegularExpressions;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Reads a process's Prometheus /metrics page: the daemons' own counters are the oracle (as nydus's smoke tests
/// use theirs), rather than the free text of their logs.
/// </summary>
public static class MetricsScrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static Task<string> TextAsync(string hostPort) => Http.GetStringAsync($"http://{hostPort}/metrics");

    /// <summary>
    /// The value of one series, named exactly as exported (<c>p2pdist_peer_uploads_active</c>,
    /// <c>p2pdist_peer_fetched_bytes_total{source="origin"}</c>); null when the page does not have it.
    /// </summary>
    public static double? Value(string metrics, string series)
    {
        var match = Regex.Match(metrics, $@"^{Regex.Escape(series)} (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The value of one series on <paramref name="hostPort"/>'s page now; fails naming the series when it is absent.</summary>
    public static async Task<double> ValueAsync(string hostPort, string series) =>
        Value(await TextAsync(hostPort), series) ?? throw new Xunit.Sdk.XunitException($"{hostPort}/metrics has no series {series}");

    /// <summary>Polls until <paramref name="series"/> satisfies <paramref name="until"/>, and returns the value that did.</summary>
    public static async Task<double> WaitForAsync(string hostPort, string series, Func<double, bool> until, string awaited, TimeSpan? timeout = null) =>
        (await Eventually.Async(async () => Value(await TextAsync(hostPort), series), v => v is { } value && until(value), timeout ?? TimeSpan.FromSeconds(20),
            $"{awaited} ({series} on {hostPort})", v => v is null ? "series absent" : v.Value.ToString(CultureInfo.InvariantCulture))).GetValueOrDefault();
}
