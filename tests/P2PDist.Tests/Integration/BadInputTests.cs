using System.Text;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Bad images and bad registries: a clear error naming the layer and entry, a non-zero exit, nothing pushed.</summary>
[Collection(RegistryCollection.Name)]
public sealed class BadInputTests(RegistryFixture registry)
{
    private async Task<ProcessRunner.Result> ConvertExpectingFailureAsync(string source, string repository)
    {
        var result = await P2PDistCli.RunAsync("image", "convert", source, $"{registry.Host}/{repository}:rafs", "--plain-http", "--timeout", "5");
        Assert.NotEqual(0, result.ExitCode);
        Assert.False(registry.Server.HasTag(repository, "rafs"), "a failed conversion must not push a manifest");
        Assert.DoesNotContain("Unhandled exception", result.Output);
        Assert.Contains("p2pdist: error:", result.Stderr);
        return result;
    }

    private async Task<ProcessRunner.Result> ConvertLayerExpectingFailureAsync(TestImage image, string repository)
    {
        string source = await image.PushAsync(registry.Host, repository, "v1");
        var result = await ConvertExpectingFailureAsync(source, repository);
        Assert.Contains("layer 0", result.Stderr);
        return result;
    }

    [Fact]
    public async Task DotDotEntry_IsRefusedNamingTheEntry()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w => w.File("a/../../escape", "x"u8.ToArray())), "bad-dotdot");
        Assert.Contains("entry 'a/../../escape'", result.Stderr);
        Assert.Contains("'..'", result.Stderr);
    }

    [Fact]
    public async Task AbsolutePath_IsRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w => w.File("/etc/passwd", "x"u8.ToArray())), "bad-absolute");
        Assert.Contains("absolute path '/etc/passwd'", result.Stderr);
    }

    [Fact]
    public async Task HardLinkToPathOutsideTheImage_IsRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w => w.HardLink("passwd", "../../etc/passwd")), "bad-hardlink");
        Assert.Contains("entry 'passwd'", result.Stderr);
    }

    [Fact]
    public async Task HardLinkToMissingFile_IsRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w => w.HardLink("link", "not/there")), "bad-hardlink-missing");
        Assert.Contains("hard link to 'not/there', which is not in the image", result.Stderr);
    }

    [Fact]
    public async Task DuplicateEntries_AreRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w =>
        {
            w.File("same", "one"u8.ToArray());
            w.File("same", "two"u8.ToArray());
        }), "bad-duplicate");
        Assert.Contains("entry 'same': duplicate entry", result.Stderr);
    }

    [Fact]
    public async Task WritingThroughASymlink_IsRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().Layer(w =>
        {
            w.Symlink("escape", "/etc");
            w.File("escape/passwd", "x"u8.ToArray());
        }), "bad-symlink-parent");
        Assert.Contains("entry 'escape/passwd'", result.Stderr);
        Assert.Contains("not a directory", result.Stderr);
    }

    [Fact]
    public async Task AbsurdPaxHeaderSize_IsRefused()
    {
        var tar = new MemoryStream();
        var writer = new TestTarWriter(tar);
        writer.RawEntry("PaxHeader", 'x', 1L << 40);
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().RawLayer(tar.ToArray()), "bad-absurd");
        Assert.Contains("absurd", result.Stderr);
    }

    [Fact]
    public async Task TruncatedLayer_IsRefusedNamingTheFile()
    {
        var full = new MemoryStream();
        var writer = new TestTarWriter(full);
        writer.File("big", SampleImages.Bytes(100_000, 1));
        writer.Finish();
        byte[] truncated = full.ToArray()[..50_000];
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().RawLayer(truncated), "bad-truncated");
        Assert.Contains("'big'", result.Stderr);
        Assert.Contains("truncated", result.Stderr);
    }

    [Fact]
    public async Task CorruptGzipStream_IsRefused()
    {
        var image = new TestImage().Layer(w => w.File("data", SampleImages.Text(200_000, 3)), LayerCompression.Gzip);
        string source = await image.PushAsync(registry.Host, "bad-gzip", "v1");
        FlipByte(registry.Server.BlobDataPath(image.LayerDigests[0]), 2000);
        var result = await ConvertExpectingFailureAsync(source, "bad-gzip");
        Assert.Contains("layer 0", result.Stderr);
    }

    [Fact]
    public async Task LayerWhoseDigestDoesNotMatch_IsRefused()
    {
        // An uncompressed layer with one byte changed inside a file: the tar still parses; only the digest catches it.
        var image = new TestImage().Layer(w => w.File("data", SampleImages.Text(20_000, 4)), LayerCompression.None);
        string source = await image.PushAsync(registry.Host, "bad-digest", "v1");
        FlipByte(registry.Server.BlobDataPath(image.LayerDigests[0]), 5000);
        var result = await ConvertExpectingFailureAsync(source, "bad-digest");
        Assert.Contains(image.LayerDigests[0], result.Stderr);
        Assert.Contains("digest mismatch", result.Stderr);
    }

    [Fact]
    public async Task NotATarStream_IsRefused()
    {
        var result = await ConvertLayerExpectingFailureAsync(new TestImage().RawLayer(Encoding.ASCII.GetBytes(new string('z', 4096))), "bad-not-tar");
        Assert.Contains("checksum", result.Stderr);
    }

    [Fact]
    public async Task UnreachableRegistry_FailsWithinItsDeadline()
    {
        int closedPort = FreePort.Next();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = await P2PDistCli.RunAsync("image", "convert", $"127.0.0.1:{closedPort}/x:v1", $"{registry.Host}/unreachable:rafs", "--plain-http", "--timeout", "2");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"registry 127.0.0.1:{closedPort} unreachable", result.Stderr);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(60), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task MissingImage_SaysNotFound()
    {
        var result = await ConvertExpectingFailureAsync($"{registry.Host}/does-not-exist:v1", "missing-target");
        Assert.Contains("not found", result.Stderr);
    }

    [Fact]
    public async Task InspectOfANonRafsImage_SaysSo()
    {
        string source = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(registry.Host, "plain-oci", "v1");
        var result = await P2PDistCli.RunAsync("image", "inspect", source, "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("not a Rafs image", result.Stderr);
    }

    [Fact]
    public async Task UnpackIntoANonEmptyDirectory_IsRefusedAndLeavesItAlone()
    {
        string source = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(registry.Host, "unpack-busy", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/unpack-busy:rafs", "--plain-http");
        string target = TestPaths.NewDirectory("busy");
        await File.WriteAllTextAsync(Path.Combine(target, "keep"), "mine");
        var result = await P2PDistCli.RunAsync("image", "unpack", $"{registry.Host}/unpack-busy:rafs", target, "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("not empty", result.Stderr);
        Assert.Equal(["keep"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));
    }

    internal static void FlipByte(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = offset;
        int b = file.ReadByte();
        file.Position = offset;
        file.WriteByte((byte)(b ^ 0x5A));
    }
}
