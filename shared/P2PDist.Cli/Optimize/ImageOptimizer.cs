using Microsoft.Extensions.Logging;
using P2PDist.Conversion.Images;
using P2PDist.Oci;
using P2PDist.Peer.FileSystem;
using P2PDist.Rafs;

namespace P2PDist.Cli.Optimize;

/// <summary>
/// `p2pdist image optimize`: converts an OCI image, runs a workload once in a container over a lazy mount of
/// the result, records the order in which it first read each file, and pushes the image with that order as
/// its prefetch table (a peer mounting it fetches those files first, alongside on-demand reads). The target
/// gets nothing until the table is in: the workload runs on a local copy of the converted image.
/// </summary>
internal sealed class ImageOptimizer(ConvertOptions options, RegistryOptions registry, TextWriter output)
{
    public async Task<string> RunAsync(IImageStore source, IImageStore target, IReadOnlyList<string> command, string work, TimeSpan deadline,
        CancellationToken cancellationToken)
    {
        string build = Directory.CreateDirectory(Path.Combine(work, "build")).FullName;
        var converter = new ImageConverter(options) { RegistryOptionsForDictionary = registry };
        var built = await converter.BuildAsync(source, build, cancellationToken).ConfigureAwait(false);
        using var local = new OciLayoutStore(ImageReference.Parse($"oci:{Path.Combine(work, "layout")}:optimize"));
        await new ImagePublisher().PushAsync(built, source, local, cancellationToken).ConfigureAwait(false);
        var (environment, workingDirectory) = RuncContainer.ProcessSettings(
            await ConfigBlob.ReadAsync(source, built.Source.Manifest.Config, cancellationToken).ConfigureAwait(false));

        IReadOnlyList<string> recorded;
        using (var image = await RafsImage.OpenAsync(local, options.Platform, work, cancellationToken).ConfigureAwait(false))
        {
            var order = await RecordAsync(image, command, environment, workingDirectory, work, deadline, cancellationToken).ConfigureAwait(false);
            recorded = PathsOf(image.Bootstrap, order);
        }
        var optimized = await converter.WithPrefetchTableAsync(built, recorded, build, cancellationToken).ConfigureAwait(false);
        string digest = await new ImagePublisher().PushAsync(optimized, source, target, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"optimized {source.Reference} -> {target.Reference}@{digest}: a prefetch table of {recorded.Count} files, in the order `{string.Join(' ', command)}` first read them");
        return digest;
    }

    private async Task<IReadOnlyList<uint>> RecordAsync(RafsImage image, IReadOnlyList<string> command, List<string> environment, string workingDirectory,
        string work, TimeSpan deadline, CancellationToken cancellationToken)
    {
        string Dir(string name) => Directory.CreateDirectory(Path.Combine(work, name)).FullName;
        string lower = Dir("lower"), upper = Dir("upper"), overlayWork = Dir("overlay-work"), rootfs = Dir("rootfs");
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        using var mount = RecordingMount.Start(image, lower, Dir("cache"), loggers);
        // The container writes into an upper directory: the image mount stays read-only, as under containerd.
        await RuncContainer.RunToolAsync("mount", ["-t", "overlay", "overlay", "-o", $"lowerdir={lower},upperdir={upper},workdir={overlayWork}", rootfs],
            TimeSpan.FromSeconds(30), TextWriter.Null, cancellationToken).ConfigureAwait(false);
        int exit;
        try
        {
            exit = await RuncContainer.RunAsync(Dir("bundle"), rootfs, command, environment, workingDirectory, deadline, output, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await RuncContainer.RunToolAsync("umount", [rootfs], TimeSpan.FromSeconds(30), TextWriter.Null, CancellationToken.None, allowFailure: true).ConfigureAwait(false);
        }
        if (exit != 0)
            throw new P2PDistException($"the workload `{string.Join(' ', command)}` exited with code {exit}: nothing recorded, nothing pushed (a failed run reads the wrong files)");
        return mount.Recorder.Order;
    }

    /// <summary>Each recorded inode's first path in the tree (a hard link is listed once).</summary>
    internal static List<string> PathsOf(RafsBootstrap bootstrap, IReadOnlyList<uint> order)
    {
        var paths = new Dictionary<uint, string>();
        foreach (var (path, ino) in bootstrap.Walk())
            paths.TryAdd(ino, path);
        return order.Where(paths.ContainsKey).Select(ino => paths[ino]).ToList();
    }
}
