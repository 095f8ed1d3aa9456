using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>A real distribution root file system (Debian bookworm minbase from debootstrap, cached by the test command).</summary>
[Collection(RegistryCollection.Name)]
public sealed class DebianRootfsTests(RegistryFixture registry)
{
    [Fact]
    public async Task DebianMinbase_ConvertThenUnpack_EqualsSourceUnpack()
    {
        string tarball = Environment.GetEnvironmentVariable("P2PDIST_DEBIAN_ROOTFS") ?? "";
        Assert.True(File.Exists(tarball),
            "P2PDIST_DEBIAN_ROOTFS must name the Debian minbase tarball; tests/run-all.sh builds it with deploy/scripts/debian-rootfs.sh");
        var image = new TestImage().RawLayer(await File.ReadAllBytesAsync(tarball), LayerCompression.Gzip);
        string source = await image.PushAsync(registry.Host, "debian", "bookworm");
        string target = $"{registry.Host}/debian:bookworm-rafs";
        var convert = await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http");
        Assert.Contains("dedup ratio", convert.Stdout);

        string unpacked = Path.Combine(TestPaths.NewDirectory("debian"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", target, unpacked, "--plain-http", "--preserve-privileged");
        var expected = await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync());
        Assert.True(expected.Count > 3000, $"a minbase tree has thousands of entries, got {expected.Count}");
        TreeSnapshot.AssertEqual(expected, await TreeSnapshot.CaptureAsync(unpacked));

        // The unpacked tree is a working system: run its own shell and perl-base from it.
        var run = await ProcessRunner.RunAsync("chroot", [unpacked, "/bin/sh", "-c", "echo hello from $(cat /etc/debian_version)"]);
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.StartsWith("hello from 12", run.Stdout);
    }
}
