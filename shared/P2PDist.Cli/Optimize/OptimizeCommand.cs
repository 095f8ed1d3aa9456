using System.CommandLine;
using P2PDist.Conversion.Images;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli.Optimize;

/// <summary>`p2pdist image optimize SOURCE TARGET -- COMMAND...`: see <see cref="ImageOptimizer"/>.</summary>
internal static class OptimizeCommand
{
    public static Command Create()
    {
        var flags = new RegistryFlags();
        var source = new Argument<string>("SOURCE") { Description = "OCI image to convert: host[:port]/repo[:tag|@sha256:...] or oci:DIR[:tag]" };
        var target = new Argument<string>("TARGET") { Description = "Where to push the optimized Rafs image: host[:port]/repo[:tag] or oci:DIR[:tag]" };
        var workload = new Argument<string[]>("COMMAND") { Description = "The workload, after --: the command and its arguments, run in the image", Arity = ArgumentArity.OneOrMore };
        var chunkSize = new Option<string>("--chunk-size") { Description = "Chunk size, a power of two from 64K to 16M", DefaultValueFactory = _ => ConvertOptions.DefaultChunkSizeText };
        var platform = new Option<string>("--platform") { Description = "Platform to pick from an image index", DefaultValueFactory = _ => "linux/amd64" };
        var deadline = new Option<double>("--workload-timeout") { Description = "Seconds the workload may run before it is killed (and nothing is pushed)", DefaultValueFactory = _ => 300 };
        var command = new Command("optimize", "Convert an image, run a workload in it once over a lazy mount (runc), and push it with the files the workload read, in order, as its prefetch table")
        {
            source, target, workload, chunkSize, platform, deadline,
        };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var registry = flags.Read(parse);
            var options = new ConvertOptions
            {
                ChunkSize = SizeParser.Parse(parse.GetValue(chunkSize)!, "--chunk-size"),
                Platform = parse.GetValue(platform)!,
            };
            double seconds = parse.GetValue(deadline);
            if (seconds is <= 0 or > 86400)
                throw new P2PDistException($"--workload-timeout {seconds} must be between 0 and 86400 seconds");
            using var sourceStore = ImageStores.Open(ImageReference.Parse(parse.GetValue(source)!), registry);
            using var targetStore = ImageStores.Open(ImageReference.Parse(parse.GetValue(target)!), registry);
            var work = ScratchDirectory.Create(parse.GetValue(flags.WorkDir)!, "p2pdist-optimize-");
            try
            {
                await new ImageOptimizer(options, registry, Console.Out).RunAsync(sourceStore, targetStore, parse.GetValue(workload)!, work.FullName,
                    TimeSpan.FromSeconds(seconds), cancellationToken);
            }
            finally
            {
                work.Delete(recursive: true);
            }
            return 0;
        });
        return command;
    }
}
