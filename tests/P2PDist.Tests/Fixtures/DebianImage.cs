namespace P2PDist.Tests.Fixtures;

/// <summary>The Debian bookworm minbase root file system the test command caches (P2PDIST_DEBIAN_ROOTFS), as a one-layer test image.</summary>
public static class DebianImage
{
    public static async Task<TestImage> LoadAsync()
    {
        string tarball = Environment.GetEnvironmentVariable("P2PDIST_DEBIAN_ROOTFS") ?? "";
        Assert.True(File.Exists(tarball), "P2PDIST_DEBIAN_ROOTFS must name the Debian minbase tarball (tests/run-all.sh builds it)");
        return new TestImage().RawLayer(await File.ReadAllBytesAsync(tarball), LayerCompression.Gzip);
    }

    /// <summary>Pushes it as HOST/REPOSITORY:TAG and returns that reference.</summary>
    public static async Task<string> PushAsync(string host, string repository, string tag) => await (await LoadAsync()).PushAsync(host, repository, tag);
}
