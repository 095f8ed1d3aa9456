namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Renders deploy/helm/p2pdist with tests/tools/helm-render (Helm's template semantics over Go's text/template
/// and sprig, built offline from Debian's golang-go and Go library packages: Helm itself is not packaged for
/// Debian 12). The renderer is built once per test run.
/// </summary>
public static class HelmRenderer
{
    private static readonly string Chart = Path.Combine(AppContext.BaseDirectory, "helm", "p2pdist");
    private static readonly Lazy<Task<string>> Binary = new(BuildAsync);

    /// <summary>The chart rendered with its values.yaml and then each values text (as `helm template -f`), every document parsed.</summary>
    public static async Task<List<Dictionary<object, object>>> RenderAsync(params string[] values)
    {
        string directory = TestPaths.NewDirectory("helm-values");
        var args = new List<string> { "-name", "p2pdist", "-namespace", "p2pdist" };
        for (int i = 0; i < values.Length; i++)
        {
            string file = Path.Combine(directory, $"values-{i}.yaml");
            await File.WriteAllTextAsync(file, values[i]);
            args.AddRange(["-f", file]);
        }
        args.Add(Chart);
        var result = await ProcessRunner.RunAsync(await Binary.Value, args, TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"helm-render: {result.Stderr}");
        return YamlTree.Documents(result.Stdout);
    }

    /// <summary>The renderer's error for values the chart refuses (a required value left empty).</summary>
    public static async Task<string> RenderFailureAsync(string values)
    {
        string file = Path.Combine(TestPaths.NewDirectory("helm-values"), "values.yaml");
        await File.WriteAllTextAsync(file, values);
        var result = await ProcessRunner.RunAsync(await Binary.Value, ["-f", file, Chart], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, result.ExitCode);
        return result.Stderr;
    }

    private static async Task<string> BuildAsync()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "tools", "helm-render");
        string output = Path.Combine(TestPaths.NewDirectory("helm-render"), "helm-render");
        // GOPATH mode over Debian's /usr/share/gocode: no module download, no network.
        var result = await ProcessRunner.RunAsync("go", ["build", "-o", output, .. Directory.GetFiles(source, "*.go").Order()], TimeSpan.FromMinutes(5), source,
            new Dictionary<string, string>
            {
                ["GO111MODULE"] = "off",
                ["GOPATH"] = "/usr/share/gocode",
                ["GOFLAGS"] = "",
                ["GOCACHE"] = Path.Combine(TestPaths.CacheRoot, "go-build"),
            });
        Assert.True(result.ExitCode == 0, $"go build of helm-render (install-host-packages.sh installs golang-go and the libraries): {result.Output}");
        return output;
    }
}
