using System.Text.RegularExpressions;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>A real peer daemon mounting converted images from a real registry through /dev/fuse.</summary>
[Collection(RegistryCollection.Name)]
public sealed class PeerMountTests(RegistryFixture registry)
{
    private Task<string> ConvertAsync(TestImage image, string repository) => image.PushAndConvertAsync(registry.Host, repository);

    [Fact]
    public async Task RichImage_MountedTree_EqualsSourceUnpack()
    {
        var image = SampleImages.Rich();
        string target = await ConvertAsync(image, "mount-rich");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        var expected = await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync());
        TreeSnapshot.AssertEqual(expected, await TreeSnapshot.CaptureAsync(mountPoint));

        var list = await peer.CliAsync("mounts");
        Assert.Contains(mountPoint, list.Stdout);
        var statfs = await ProcessRunner.RunCheckedAsync("stat", "-f", "-c", "%T %b %c", mountPoint);
        Assert.Matches(@"^fuse\S* [1-9][0-9]* [1-9]", statfs.Stdout); // type, blocks, inodes from STATFS
        var write = await ProcessRunner.RunAsync("touch", [Path.Combine(mountPoint, "new-file")]);
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Read-only file system", write.Stderr);

        await peer.CliAsync("umount", mountPoint);
        Assert.Empty(Directory.GetFileSystemEntries(mountPoint));
    }

    [Theory]
    [InlineData("64K", "lz4", "sha256")]
    [InlineData("16M", "none", "blake3")]
    public async Task RichImage_OtherChunkSizesCodecsAndDigests_MountedTree_EqualsSourceUnpack(string chunkSize, string compression, string digest)
    {
        var image = SampleImages.Rich();
        string repository = $"mount-rich-{chunkSize.ToLowerInvariant()}-{compression}";
        string source = await image.PushAsync(registry.Host, repository, "v1");
        string target = $"{registry.Host}/{repository}:rafs";
        await P2PDistCli.RunOkAsync("image", "convert", source, target, "--plain-http", "--chunk-size", chunkSize, "--compression", compression, "--digest", digest);
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        TreeSnapshot.AssertEqual(await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync()), await TreeSnapshot.CaptureAsync(mountPoint));
    }

    [Fact]
    public async Task DirectoryOf20000Files_MountedTree_EqualsSourceUnpack()
    {
        var image = SampleImages.ManyFiles(20_000);
        string target = await ConvertAsync(image, "mount-many");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        TreeSnapshot.AssertEqual(await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync()), await TreeSnapshot.CaptureAsync(mountPoint));
    }

    [Fact]
    public async Task SigtermUnmountsEverything_AndARestartMountsItAgain()
    {
        string target = await ConvertAsync(new TestImage().Layer(w => w.File("hello", "world"u8.ToArray())), "mount-sigterm");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        await peer.StopAsync();
        Assert.DoesNotContain(mountPoint, await File.ReadAllTextAsync("/proc/self/mountinfo"));
        await peer.RestartAsync();
        await Eventually.Async(() => Task.FromResult(File.Exists(Path.Combine(mountPoint, "hello"))), TimeSpan.FromSeconds(30),
            $"the restarted daemon to remount {mountPoint}", () => "not mounted yet");
        Assert.Equal("world", await File.ReadAllTextAsync(Path.Combine(mountPoint, "hello")));
    }

    [Fact]
    public async Task DebianImage_ChrootRunsProgramsFromTheMount()
    {
        string tarball = Environment.GetEnvironmentVariable("P2PDIST_DEBIAN_ROOTFS") ?? "";
        Assert.True(File.Exists(tarball), "P2PDIST_DEBIAN_ROOTFS must name the Debian minbase tarball (tests/run-all.sh sets it)");
        string target = await ConvertAsync(new TestImage().RawLayer(await File.ReadAllBytesAsync(tarball)), "mount-debian");
        await using var peer = await PeerProcess.StartAsync();
        // A root file system for chroot, as a container runtime uses it: devices (/dev/null) and setuid work there (review H6).
        var mount = await peer.CliAsync("mount", target, "debian-root", "--container-root", "--plain-http");
        Assert.True(mount.ExitCode == 0, mount.Output);
        string mountPoint = Path.Combine(peer.DataDir, "roots", "debian-root");
        var image = new TestImage().RawLayer(await File.ReadAllBytesAsync(tarball));
        TreeSnapshot.AssertEqual(await TreeSnapshot.CaptureAsync(await image.ReferenceUnpackAsync()), await TreeSnapshot.CaptureAsync(mountPoint));
        var run = await ProcessRunner.RunAsync("chroot", [mountPoint, "/usr/bin/perl", "-e", "print 6*7, qq(\\n); open(my $f, '<', '/etc/debian_version') or die; print <$f>"], TimeSpan.FromMinutes(2));
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.StartsWith("42\n12.", run.Stdout);
        // perl's shared libraries (libperl, libc) came from the mount: nothing else is in the chroot.
        Assert.True((await peer.MountInfoAsync(target)).BytesRead > 1_000_000, "megabytes should have been read through FUSE");
    }

    [Fact]
    public async Task ReadingOneSmallFile_FetchesOnlyItsChunks()
    {
        var image = new TestImage().Layer(w =>
        {
            w.File("big/blob.bin", SampleImages.Bytes(48 << 20, 31));
            w.File("etc/small.conf", SampleImages.Text(3000, 32));
        });
        string target = await ConvertAsync(image, "mount-lazy");
        await using var peer = await PeerProcess.StartAsync();
        string mountPoint = await peer.MountAsync(target);
        long before = registry.Server.BlobBytesServed("mount-lazy");
        Assert.Equal(SampleImages.Text(3000, 32), await File.ReadAllBytesAsync(Path.Combine(mountPoint, "etc/small.conf")));
        long served = registry.Server.BlobBytesServed("mount-lazy") - before; // exact: the registry's proxy counts before it sends
        Assert.True(served is > 0 and < 64 * 1024, $"reading a 3,000-byte file made the registry serve {served:N0} bytes of blobs (image: 48 MiB)");

        Assert.Equal(3000, (await peer.MountInfoAsync(target)).BytesRead);
    }

    [Fact]
    public async Task CacheCounts_ArePerMount()
    {
        string first = await ConvertAsync(new TestImage().Layer(w => w.File("a.bin", SampleImages.Bytes(3 << 20, 33))), "counts-a");
        string second = await ConvertAsync(new TestImage().Layer(w => w.File("b.bin", SampleImages.Bytes(1 << 20, 34))), "counts-b");
        await using var peer = await PeerProcess.StartAsync(null, "--passthrough", "false");
        string mountPoint = await peer.MountAsync(first);
        await peer.MountAsync(second);
        Assert.Equal(SampleImages.Bytes(3 << 20, 33), await File.ReadAllBytesAsync(Path.Combine(mountPoint, "a.bin")));
        var a = await peer.MountInfoAsync(first);
        var b = await peer.MountInfoAsync(second);
        Assert.True(a.CacheMisses >= 1, $"the first mount fetched its chunks: {a.CacheMisses} misses");
        Assert.Equal((0L, 0L), (b.CacheHits, b.CacheMisses)); // nothing was read through the second mount
    }

    [Fact]
    public async Task BadMounts_FailClearlyAndLeaveNoMount()
    {
        // Content of its own: blobs are shared by digest across the registry, and this test corrupts its bootstrap.
        string target = await ConvertAsync(new TestImage().Layer(w => w.File("f", "only in mount-bad"u8.ToArray())), "mount-bad");
        string plain = await new TestImage().Layer(w => w.File("f", "x"u8.ToArray())).PushAsync(registry.Host, "mount-plain", "v1");
        await using var peer = await PeerProcess.StartAsync();
        string empty = TestPaths.NewDirectory("mnt");

        var missing = await peer.CliAsync("mount", $"{registry.Host}/mount-bad:nope", empty, "--plain-http");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("not found", missing.Stderr);

        var notRafs = await peer.CliAsync("mount", plain, empty, "--plain-http");
        Assert.NotEqual(0, notRafs.ExitCode);
        Assert.Contains("not a Rafs image", notRafs.Stderr);

        var noDir = await peer.CliAsync("mount", target, Path.Combine(empty, "absent"), "--plain-http");
        Assert.NotEqual(0, noDir.ExitCode);
        Assert.Contains("does not exist", noDir.Stderr);

        string mounted = await peer.MountAsync(target);
        var busy = await peer.CliAsync("mount", target, mounted, "--plain-http");
        Assert.NotEqual(0, busy.ExitCode);
        Assert.Contains("already", busy.Stderr);

        // A bootstrap that does not match its digest (swapped in the registry's storage) is refused at mount.
        var inspect = await P2PDistCli.RunOkAsync("image", "inspect", target, "--plain-http");
        string manifest = inspect.Stdout.Split('\n').First(l => l.StartsWith("manifest: ", StringComparison.Ordinal))["manifest: ".Length..];
        string manifestJson = await File.ReadAllTextAsync(registry.Server.BlobDataPath(manifest));
        string bootstrapDigest = Regex.Match(manifestJson, @"""digest"":""(sha256:[0-9a-f]{64})"",""size"":\d+,""annotations"":\{""io\.p2pdist\.rafs\.version""").Groups[1].Value;
        string bootstrapBlob = registry.Server.BlobDataPath(bootstrapDigest);
        BadInputTests.FlipByte(bootstrapBlob, new FileInfo(bootstrapBlob).Length / 2); // inside it: compressed, it is small
        var corrupt = await peer.CliAsync("mount", target, empty, "--plain-http");
        Assert.NotEqual(0, corrupt.ExitCode);
        Assert.True(corrupt.Stderr.Contains("digest mismatch"), corrupt.Stderr);

        Assert.DoesNotContain(empty, await File.ReadAllTextAsync("/proc/self/mountinfo"));
    }
}
