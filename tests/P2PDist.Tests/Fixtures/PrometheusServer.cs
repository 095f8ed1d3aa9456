using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A real Prometheus (Debian's package) on loopback, scraping the given targets every second with the project's
/// alert rules loaded, and its HTTP query API for the test.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;

    private PrometheusServer(Process process, string address, string logPath)
    {
        _process = process;
        Address = address;
        LogPath = logPath;
    }

    public string Address { get; }
    public string LogPath { get; }

    /// <summary>The project's configuration files, as the test build copies them (deploy/prometheus).</summary>
    public static string ConfigDirectory => Path.Combine(AppContext.BaseDirectory, "prometheus");

    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, IReadOnlyList<string>> targetsByJob)
    {
        string dir = TestPaths.NewDirectory("prometheus");
        File.Copy(Path.Combine(ConfigDirectory, "alerts.yml"), Path.Combine(dir, "alerts.yml"));
        var jobs = string.Join("", targetsByJob.Select(job =>
            $"  - job_name: {job.Key}\n    static_configs:\n      - targets: [{string.Join(", ", job.Value.Select(t => $"\"{t}\""))}]\n"));
        string config = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n{jobs}");
        string address = $"127.0.0.1:{FreePort.Next()}";
        string log = Path.Combine(dir, "prometheus.log");
        var process = LoggedProcess.Start("prometheus", [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir, "data")}",
            $"--web.listen-address={address}"], log);
        var server = new PrometheusServer(process, address, log);
        try
        {
            await Eventually.Async(async () =>
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"prometheus exited: {await File.ReadAllTextAsync(log)}");
                return (await Http.GetAsync($"http://{address}/-/ready")).IsSuccessStatusCode;
            }, TimeSpan.FromSeconds(30), $"prometheus (log {log}) to be ready on {address}", retryOn: e => e is HttpRequestException or SocketException or TaskCanceledException);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>An instant query: the API's status must be success (a query error fails with Prometheus's message); returns the result vector.</summary>
    public async Task<JsonElement> QueryAsync(string promql)
    {
        using var response = await Http.GetAsync($"http://{Address}/api/v1/query?query={Uri.EscapeDataString(promql)}");
        string body = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        if (root.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query failed: {promql}\n{body}");
        return root.GetProperty("data").GetProperty("result").Clone();
    }

    public async Task<JsonElement> ApiAsync(string path)
    {
        using var document = JsonDocument.Parse(await Http.GetStringAsync($"http://{Address}/api/v1/{path}"));
        return document.RootElement.GetProperty("data").Clone();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
