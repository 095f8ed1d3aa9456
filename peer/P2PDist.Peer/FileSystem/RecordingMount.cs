using Microsoft.Extensions.Logging;
using P2PDist.Conversion.Images;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Peer.Fuse;

namespace P2PDist.Peer.FileSystem;

/// <summary>
/// A lazy mount of one image outside any daemon, with a cache of its own, that records the order in which
/// files are first read: what <c>p2pdist image optimize</c> runs its workload on. Every chunk is still fetched
/// from the image's store and verified as on a peer's mount.
/// </summary>
public sealed class RecordingMount : IDisposable
{
    private readonly FuseSession _session;
    private readonly ChunkProvider _provider;

    private RecordingMount(FuseSession session, ChunkProvider provider, ReadRecorder recorder)
    {
        _session = session;
        _provider = provider;
        Recorder = recorder;
    }

    public ReadRecorder Recorder { get; }

    /// <param name="mountPoint">An empty directory; mounted as a container's root would be (devices and setuid honoured).</param>
    /// <param name="cacheDirectory">Where fetched chunks are kept while the mount lives.</param>
    public static RecordingMount Start(RafsImage image, string mountPoint, string cacheDirectory, ILoggerFactory loggers)
    {
        var log = loggers.CreateLogger("p2pdist.optimize");
        var cache = new ChunkCache(cacheDirectory, 0, message => log.LogWarning("{Message}", message));
        var provider = new ChunkProvider(image.Bootstrap, cache, new RegistryChunkSource(image.Store), 2 << 20, message => log.LogWarning("{Message}", message));
        var recorder = new ReadRecorder();
        var timeout = TimeSpan.FromSeconds(60);
        var fs = new RafsFileSystem(image.Bootstrap, provider, null, timeout, log, recorder);
        try
        {
            var session = FuseSession.Mount(mountPoint, fs, workers: 4, allowPassthrough: false, containerRoot: true, timeout, log,
                new Fuse.FuseOperationMetrics(MetricFactories.Detached()));
            return new RecordingMount(session, provider, recorder);
        }
        catch
        {
            provider.Dispose();
            throw;
        }
    }

    /// <summary>Unmounts, then waits (bounded) for every fetch to end before the caller may unmap the image's bootstrap.</summary>
    public void Dispose()
    {
        _session.Dispose();
        if (!_provider.DrainAsync().Wait(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("fetches of the recording mount did not end within 30 s of the unmount");
        _provider.Dispose();
    }
}
