using System.Security.Cryptography;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

[Collection(RegistryCollection.Name)]
public sealed class LargeAndHostileImageTests(RegistryFixture registry)
{
    [Fact]
    public async Task SparseFileOver4GiB_RoundTripsAndStaysSparse()
    {
        const long size = (4L << 30) + 12_345;
        byte[] head = SampleImages.Bytes(1 << 20, 11), middle = SampleImages.Bytes(100, 12), tail = SampleImages.Bytes(12_345, 13);
        long middleAt = 2L << 30;
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var image = new TestImage().StreamedGzipLayer(w =>
        {
            w.File("small", "x"u8.ToArray());
            w.LargeFile("sparse/big.img", size, (output, _) =>
            {
                void Emit(ReadOnlySpan<byte> bytes)
                {
                    output.Write(bytes);
                    expected.AppendData(bytes);
                }
                var zeros = new byte[1 << 20];
                void Zeros(long count)
                {
                    for (; count > 0; count -= Math.Min(count, zeros.Length))
                        Emit(zeros.AsSpan(0, (int)Math.Min(count, zeros.Length)));
                }
                Emit(head);
                Zeros(middleAt - head.Length);
                Emit(middle);
                Zeros(size - middleAt - middle.Length - tail.Length);
                Emit(tail);
            });
        });
        string source = await image.PushAsync(registry.Host, "sparse", "v1");
        var convert = await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/sparse:rafs", "--plain-http");
        Assert.Contains("4,098 referenced, 5 stored new", convert.Stdout); // "small", then 4,097 chunk references of big.img dedup to head, zeros, middle and tail

        string unpacked = Path.Combine(TestPaths.NewDirectory("sparse"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", $"{registry.Host}/sparse:rafs", unpacked, "--plain-http");
        string big = Path.Combine(unpacked, "sparse/big.img");
        Assert.Equal(size, new FileInfo(big).Length);
        await using (var file = File.OpenRead(big))
            Assert.Equal(Convert.ToHexStringLower(expected.GetHashAndReset()), Convert.ToHexStringLower(await SHA256.HashDataAsync(file)));
        long allocatedBytes = long.Parse((await ProcessRunner.RunCheckedAsync("stat", "-c", "%b", big)).Stdout.Trim()) * 512;
        Assert.True(allocatedBytes < 16 << 20, $"the unpacked file should be sparse, but {allocatedBytes} bytes are allocated");
    }

    [Fact]
    public async Task SymlinkChainsPointingOutside_AreUnpackedAsLinksAndNothingIsWrittenOutside()
    {
        string outside = TestPaths.NewDirectory("outside");
        var image = new TestImage().Layer(w =>
        {
            w.Symlink("up", "..");
            w.Symlink("chain", "up/up/up");
            w.Symlink("abs", outside);
            w.Directory("real");
            w.File("real/file", "inside"u8.ToArray());
        });
        string source = await image.PushAsync(registry.Host, "symlink-escape", "v1");
        await P2PDistCli.RunOkAsync("image", "convert", source, $"{registry.Host}/symlink-escape:rafs", "--plain-http");
        string unpacked = Path.Combine(TestPaths.NewDirectory("escape"), "rootfs");
        await P2PDistCli.RunOkAsync("image", "unpack", $"{registry.Host}/symlink-escape:rafs", unpacked, "--plain-http");
        Assert.Equal("up/up/up", new FileInfo(Path.Combine(unpacked, "chain")).LinkTarget);
        Assert.Equal(outside, new FileInfo(Path.Combine(unpacked, "abs")).LinkTarget);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.Equal(["rootfs"], Directory.GetFileSystemEntries(Path.GetDirectoryName(unpacked)!).Select(Path.GetFileName));

        // A later layer may not write through such a link either (converter side).
        var through = new TestImage().Layer(w => w.Symlink("abs", outside)).Layer(w => w.File("abs/planted", "x"u8.ToArray()));
        string bad = await through.PushAsync(registry.Host, "symlink-escape2", "v1");
        var result = await P2PDistCli.RunAsync("image", "convert", bad, $"{registry.Host}/symlink-escape2:rafs", "--plain-http");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("layer 1", result.Stderr);
        Assert.Contains("entry 'abs/planted'", result.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }
}
