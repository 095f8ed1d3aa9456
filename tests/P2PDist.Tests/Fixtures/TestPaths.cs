namespace P2PDist.Tests.Fixtures;

public static class TestPaths
{
    /// <summary>Scratch space for the tests; P2PDIST_TEST_WORK overrides (the README's test command sets it).</summary>
    public static string WorkRoot { get; } = Directory.CreateDirectory(
        Environment.GetEnvironmentVariable("P2PDIST_TEST_WORK") ?? Path.Combine(Path.GetTempPath(), "p2pdist-tests")).FullName;

    /// <summary>A cache kept between test runs (the Debian root file system image).</summary>
    public static string CacheRoot { get; } = Directory.CreateDirectory(
        Environment.GetEnvironmentVariable("P2PDIST_TEST_CACHE") ?? "/var/cache/p2pdist-tests").FullName;

    public static string NewDirectory(string prefix)
    {
        string path = Path.Combine(WorkRoot, prefix + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The p2pdist executable built next to the tests.</summary>
    public static string Cli { get; } = Path.Combine(AppContext.BaseDirectory, "p2pdist");
}
