using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2PDist.Rafs;

namespace P2PDist.Cli.Optimize;

/// <summary>
/// Runs one command in a container with runc directly (no containerd needed): a bundle from `runc spec`
/// (its namespaces, mounts and capabilities: runc's defaults, no network) with the given root and process.
/// The command's output goes to ours; it is killed and the container deleted at the deadline.
/// </summary>
internal static class RuncContainer
{
    public static async Task<int> RunAsync(string bundle, string rootfs, IReadOnlyList<string> command, IReadOnlyList<string> environment,
        string workingDirectory, TimeSpan deadline, TextWriter output, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(bundle);
        string configPath = Path.Combine(bundle, "config.json");
        File.Delete(configPath);
        await RunToolAsync("runc", ["spec", "--bundle", bundle], TimeSpan.FromSeconds(30), TextWriter.Null, cancellationToken).ConfigureAwait(false);
        var spec = JsonNode.Parse(await File.ReadAllTextAsync(configPath, cancellationToken).ConfigureAwait(false))!.AsObject();
        var process = spec["process"]!.AsObject();
        process["terminal"] = false;
        process["args"] = new JsonArray(command.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        process["env"] = new JsonArray(environment.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray());
        process["cwd"] = workingDirectory;
        spec["root"] = new JsonObject { ["path"] = Path.GetFullPath(rootfs), ["readonly"] = false };
        await File.WriteAllTextAsync(configPath, spec.ToJsonString(), cancellationToken).ConfigureAwait(false);

        string id = $"p2pdist-optimize-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40];
        try
        {
            return await RunToolAsync("runc", ["run", "--bundle", bundle, id], deadline, output, cancellationToken, allowFailure: true).ConfigureAwait(false);
        }
        finally
        {
            await RunToolAsync("runc", ["delete", "--force", id], TimeSpan.FromSeconds(30), TextWriter.Null, CancellationToken.None, allowFailure: true).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a tool to its end or the deadline (then kills it); its output and errors go to <paramref name="output"/>.</summary>
    public static async Task<int> RunToolAsync(string tool, IReadOnlyList<string> arguments, TimeSpan deadline, TextWriter output,
        CancellationToken cancellationToken, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var running = Process.Start(start) ?? throw new P2PDistException($"could not start {tool}");
        var copyOut = CopyLinesAsync(running.StandardOutput, output);
        var errors = running.StandardError.ReadToEndAsync(CancellationToken.None);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(deadline);
        try
        {
            await running.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            running.Kill(entireProcessTree: true);
            await running.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new P2PDistException($"{tool} {string.Join(' ', arguments)} did not finish within {deadline.TotalSeconds:0} s; killed");
        }
        await copyOut.ConfigureAwait(false);
        string stderr = await errors.ConfigureAwait(false);
        if (stderr.Length > 0)
            output.Write(stderr);
        if (running.ExitCode != 0 && !allowFailure)
            throw new P2PDistException($"{tool} {string.Join(' ', arguments)} failed with exit code {running.ExitCode}: {stderr.Trim()}");
        return running.ExitCode;
    }

    private static async Task CopyLinesAsync(StreamReader from, TextWriter to)
    {
        while (await from.ReadLineAsync().ConfigureAwait(false) is { } line)
            to.WriteLine(line);
    }

    /// <summary>The image config's Env and WorkingDir (a PATH when it names none), for the container's process.</summary>
    public static (List<string> Environment, string WorkingDirectory) ProcessSettings(byte[] config)
    {
        using var document = JsonDocument.Parse(config);
        var environment = new List<string>();
        string workingDirectory = "/";
        if (document.RootElement.TryGetProperty("config", out var settings) && settings.ValueKind == JsonValueKind.Object)
        {
            if (settings.TryGetProperty("Env", out var env) && env.ValueKind == JsonValueKind.Array)
                environment.AddRange(env.EnumerateArray().Select(e => e.GetString()).OfType<string>());
            if (settings.TryGetProperty("WorkingDir", out var dir) && dir.GetString() is { Length: > 0 } given && given.StartsWith('/'))
                workingDirectory = given;
        }
        if (!environment.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
            environment.Add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        return (environment, workingDirectory);
    }
}
