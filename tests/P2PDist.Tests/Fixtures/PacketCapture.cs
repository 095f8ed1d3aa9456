using System.Diagnostics;

namespace P2PDist.Tests.Fixtures;

/// <summary>`tcpdump -i lo -w FILE FILTER` for the length of a using block: what really crossed the loopback wire.</summary>
public sealed class PacketCapture : IAsyncDisposable
{
    private readonly Process _process;

    private PacketCapture(Process process) => _process = process;

    public static async Task<PacketCapture> StartAsync(string file, string filter)
    {
        var start = new ProcessStartInfo("tcpdump") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[] { "-i", "lo", "-U", "-s", "0", "-w", file, filter })
            start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("tcpdump did not start");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        // tcpdump says "listening on lo" once the capture is armed.
        while (await process.StandardError.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.Contains("listening on", StringComparison.Ordinal))
            {
                _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
                return new PacketCapture(process);
            }
        }
        throw new InvalidOperationException($"tcpdump exited with {process.ExitCode} before capturing");
    }

    public async ValueTask DisposeAsync()
    {
        // SIGINT: tcpdump writes out what it holds and exits.
        await ProcessRunner.RunAsync("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}
