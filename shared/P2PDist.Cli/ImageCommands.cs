using System.CommandLine;
using P2PDist.Conversion.Images;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli;

/// <summary>`p2pdist image ...`: convert, inspect, check and unpack Rafs images.</summary>
internal static class ImageCommands
{
    public static Command Create() => new("image", "Build and examine Rafs images")
    {
        Convert(),
        Optimize.OptimizeCommand.Create(),
        Inspect(),
        Check(),
        Unpack(),
        Containerd.ContainerdCommands.Pull(),
    };

    private static Command Convert()
    {
        var flags = new RegistryFlags();
        var source = new Argument<string>("SOURCE") { Description = "OCI image to convert: host[:port]/repo[:tag|@sha256:...] or oci:DIR[:tag]" };
        var target = new Argument<string>("TARGET") { Description = "Where to push the Rafs image: host[:port]/repo[:tag] or oci:DIR[:tag]" };
        var chunkSize = new Option<string>("--chunk-size") { Description = "Chunk size, a power of two from 64K to 16M", DefaultValueFactory = _ => ConvertOptions.DefaultChunkSizeText };
        var compression = new Option<string>("--compression") { Description = "Chunk compression: zstd, lz4 or none", DefaultValueFactory = _ => "zstd" };
        var digest = new Option<string>("--digest") { Description = "Chunk digest: blake3 or sha256", DefaultValueFactory = _ => "blake3" };
        var platform = new Option<string>("--platform") { Description = "Platform to pick from an image index", DefaultValueFactory = _ => "linux/amd64" };
        var chunkDict = new Option<string?>("--chunk-dict") { Description = "A Rafs image whose chunks are reused rather than stored again" };
        var prefetch = new Option<string?>("--prefetch-files") { Description = "File listing paths (one per line) to put in the prefetch table" };
        var defaults = new ConversionLimits();
        var maxLayerBytes = new Option<string>("--max-layer-bytes") { Description = "Refuse a layer whose tar is larger than this, uncompressed", DefaultValueFactory = _ => $"{defaults.MaxLayerBytes >> 30}G" };
        var maxRatio = new Option<double>("--max-compression-ratio") { Description = "Refuse a layer that expands more than this many times its compressed size (past its first 64 MiB)", DefaultValueFactory = _ => defaults.MaxCompressionRatio };
        var maxEntries = new Option<long>("--max-layer-entries") { Description = "Refuse a layer with more tar entries than this", DefaultValueFactory = _ => defaults.MaxLayerEntries };
        var maxFileBytes = new Option<string>("--max-file-bytes") { Description = "Refuse a file larger than this", DefaultValueFactory = _ => $"{defaults.MaxFileBytes >> 30}G" };
        var command = new Command("convert", "Convert an OCI image into a Rafs image and push it")
        {
            source, target, chunkSize, compression, digest, platform, chunkDict, prefetch, maxLayerBytes, maxRatio, maxEntries, maxFileBytes,
        };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var registry = flags.Read(parse);
            var options = new ConvertOptions
            {
                ChunkSize = SizeParser.Parse(parse.GetValue(chunkSize)!, "--chunk-size"),
                Compression = ChunkCompressionNames.Parse(parse.GetValue(compression)!),
                Digest = DigestAlgorithmNames.Parse(parse.GetValue(digest)!),
                Platform = parse.GetValue(platform)!,
                ChunkDictionary = parse.GetValue(chunkDict),
                PrefetchPaths = parse.GetValue(prefetch) is { } list ? ReadPrefetchList(list) : [],
                Limits = new ConversionLimits
                {
                    MaxLayerBytes = SizeParser.ParseLong(parse.GetValue(maxLayerBytes)!, "--max-layer-bytes"),
                    MaxCompressionRatio = parse.GetValue(maxRatio),
                    MaxLayerEntries = parse.GetValue(maxEntries),
                    MaxFileBytes = SizeParser.ParseLong(parse.GetValue(maxFileBytes)!, "--max-file-bytes"),
                },
            };
            var progress = TerminalProgress.CreateIfTerminal();
            using var sourceStore = ImageStores.Open(ImageReference.Parse(parse.GetValue(source)!), registry);
            using var targetStore = ImageStores.Open(ImageReference.Parse(parse.GetValue(target)!), registry);
            var work = ScratchDirectory.Create(parse.GetValue(flags.WorkDir)!, "p2pdist-convert-");
            try
            {
                var converter = new ImageConverter(options, progress) { RegistryOptionsForDictionary = registry };
                var built = await converter.BuildAsync(sourceStore, work.FullName, cancellationToken);
                string manifestDigest = await new ImagePublisher(progress).PushAsync(built, sourceStore, targetStore, cancellationToken);
                TerminalProgress.ClearLine();
                Console.WriteLine($"converted {sourceStore.Reference} -> {targetStore.Reference}@{manifestDigest}");
                foreach (var line in built.Stats.Describe())
                    Console.WriteLine("  " + line);
            }
            finally
            {
                work.Delete(recursive: true);
            }
            return 0;
        });
        return command;
    }

    private static IReadOnlyList<string> ReadPrefetchList(string path)
    {
        if (!File.Exists(path))
            throw new P2PDistException($"--prefetch-files: {path} does not exist");
        return File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
    }

    private static Command Inspect()
    {
        var flags = new RegistryFlags();
        var image = new Argument<string>("IMAGE") { Description = "Rafs image: host[:port]/repo[:tag] or oci:DIR[:tag]" };
        var files = new Option<bool>("--files") { Description = "List every entry with its mode, owner, size and content digest" };
        var command = new Command("inspect", "Print a Rafs image's tree summary, chunk and dedup figures") { image, files };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var rafs = await OpenAsync(parse, flags, image, cancellationToken);
            foreach (var line in ImageInspector.Summary(rafs))
                Console.WriteLine(line);
            if (parse.GetValue(files))
            {
                foreach (var line in ImageInspector.Files(rafs))
                    Console.WriteLine(line);
            }
            return 0;
        });
        return command;
    }

    private static Command Check()
    {
        var flags = new RegistryFlags();
        var image = new Argument<string>("IMAGE") { Description = "Rafs image: host[:port]/repo[:tag] or oci:DIR[:tag]" };
        var command = new Command("check", "Verify the bootstrap, every blob and every chunk of a Rafs image") { image };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var rafs = await OpenAsync(parse, flags, image, cancellationToken);
            var problems = await new ImageChecker(TerminalProgress.CreateIfTerminal()).CheckAsync(rafs, cancellationToken);
            TerminalProgress.ClearLine();
            foreach (var problem in problems)
                Console.WriteLine("BAD " + problem);
            Console.WriteLine(problems.Count == 0
                ? $"ok: bootstrap, {rafs.Bootstrap.BlobCount} blobs and {rafs.Bootstrap.ChunkCount} chunks verified"
                : $"FAILED: {problems.Count} problems");
            return problems.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command Unpack()
    {
        var flags = new RegistryFlags();
        var image = new Argument<string>("IMAGE") { Description = "Rafs image: host[:port]/repo[:tag] or oci:DIR[:tag]" };
        var directory = new Argument<string>("DIR") { Description = "Directory to create (must not exist, or be empty)" };
        var defaults = new UnpackOptions();
        var maxBytes = new Option<string>("--max-bytes") { Description = "Refuse, before writing anything, an image whose files add up to more than this", DefaultValueFactory = _ => $"{defaults.MaxTotalBytes >> 30}G" };
        var preservePrivileged = new Option<bool>("--preserve-privileged")
        {
            Description = "Also restore setuid/setgid bits, device nodes and security.*/trusted.* xattrs (file capabilities, SELinux labels, overlay metadata). "
                + "Off by default, also as root: they would hand the image's author privileges in a tree others may reach",
        };
        var command = new Command("unpack", "Write a Rafs image's file system to a directory. Without --preserve-privileged, setuid/setgid bits, device nodes "
            + "and security.*/trusted.* xattrs are left out, even when run as root")
        {
            image, directory, maxBytes, preservePrivileged,
        };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new UnpackOptions
            {
                MaxTotalBytes = SizeParser.ParseLong(parse.GetValue(maxBytes)!, "--max-bytes"),
                PreservePrivileged = parse.GetValue(preservePrivileged),
            };
            using var rafs = await OpenAsync(parse, flags, image, cancellationToken);
            var result = await new ImageUnpacker(options, TerminalProgress.CreateIfTerminal()).UnpackAsync(rafs, parse.GetValue(directory)!, cancellationToken);
            TerminalProgress.ClearLine();
            Console.WriteLine($"unpacked {rafs.Store.Reference} into {parse.GetValue(directory)}");
            if (result.LeftSomethingOut)
                Console.WriteLine("  " + result.Describe());
            return 0;
        });
        return command;
    }

    private static async Task<RafsImage> OpenAsync(ParseResult parse, RegistryFlags flags, Argument<string> image, CancellationToken cancellationToken)
    {
        var store = ImageStores.Open(ImageReference.Parse(parse.GetValue(image)!), flags.Read(parse));
        try
        {
            return await RafsImage.OpenAsync(store, "linux/amd64", parse.GetValue(flags.WorkDir)!, cancellationToken);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }
}
