namespace P2PDist.Tests.Fixtures;

/// <summary>Runs the real p2pdist command as a separate process, as a user would.</summary>
public static class P2PDistCli
{
    public static Task<ProcessRunner.Result> RunAsync(params string[] args) => RunAsync(TimeSpan.FromMinutes(10), args);

    public static Task<ProcessRunner.Result> RunAsync(TimeSpan timeout, params string[] args) => RunWithHomeAsync(TestPaths.WorkRoot, timeout, args);

    /// <summary>Runs with HOME set, so ~/.docker/config.json is the test's own.</summary>
    public static Task<ProcessRunner.Result> RunWithHomeAsync(string home, TimeSpan timeout, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "p2pdist.dll");
        return ProcessRunner.RunAsync("dotnet", [dll, .. args], timeout, environment: new Dictionary<string, string>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["HOME"] = home,
        });
    }

    public static async Task<ProcessRunner.Result> RunOkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Xunit.Assert.True(result.ExitCode == 0, $"p2pdist {string.Join(' ', args)} exited {result.ExitCode}:\n{result.Output}");
        return result;
    }

    /// <summary>Every data blob of a Rafs image with its chunk count, as `image inspect` lists them ("  sha256:… N bytes, M chunks").</summary>
    public static async Task<List<(string Digest, int ChunkCount)>> BlobsOfAsync(string target)
    {
        var inspect = await RunOkAsync("image", "inspect", target, "--plain-http");
        return [.. System.Text.RegularExpressions.Regex.Matches(inspect.Stdout, @"^\s+(sha256:[0-9a-f]{64}) [\d,]+ bytes, ([\d,]+) chunks$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => (m.Groups[1].Value, int.Parse(m.Groups[2].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture)))];
    }

    /// <summary>The digest of a single-blob Rafs image's data blob, as `image inspect` lists it (how the swarm names the blob).</summary>
    public static async Task<string> BlobOfAsync(string target)
    {
        var inspect = await RunOkAsync("image", "inspect", target, "--plain-http");
        return inspect.Stdout.Split('\n').First(l => l.TrimStart().StartsWith("sha256:", StringComparison.Ordinal)).Trim().Split(' ')[0];
    }
}
