using System.Text.Json;
using Microsoft.Extensions.Logging;
using P2PDist.Conversion.Images;
using P2PDist.Oci;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Peer.FileSystem;
using P2PDist.Peer.Fuse;
using P2PDist.Peer.P2P;
using P2PDist.Rafs;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The daemon's mounts: opens the image (its bootstrap verified against the manifest: the root of trust),
/// wires bootstrap, chunk provider and FUSE session together, and keeps the list on disk so a restarted
/// daemon mounts again what it had, clearing mounts a killed daemon left behind (ENOTCONN).
/// </summary>
public sealed class MountManager : IAsyncDisposable
{
    private readonly PeerOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly ChunkCache _cache;
    /// <summary>One single flight for every mount: chunks that images share are fetched once, whichever mount asks.</summary>
    private readonly InFlightChunks _inFlight = new();
    /// <summary>The node's origin queue: every mount's requests share the registry link, readers first.</summary>
    private readonly FetchScheduler _originQueue = new();
    private readonly FileMaterializer _materializer;
    /// <summary>Guards <see cref="_mounts"/> and <see cref="_reserved"/>; held only for in-memory work and the state file, never across I/O to a registry.</summary>
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ActiveMount> _mounts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reserved = new(StringComparer.Ordinal);

    /// <summary>The mounts' swarm links, replaced whole on every mount change so the eviction callback reads it without a lock.</summary>
    private volatile MountPeerLink[] _links = [];

    private void MountsChanged() => _links = _mounts.Values.Select(m => m.Peers).OfType<MountPeerLink>().ToArray();

    private sealed record ActiveMount(MountRequest Request, RafsImage Image, IImageStore Store, RegistryChunkSource Source,
        ChunkProvider Provider, RafsFileSystem FileSystem, FuseSession Session, Prefetcher Prefetch, MountPeerLink? Peers, long ImageBytes);

    private readonly PeerNetwork? _network;

    private readonly PeerMetrics _metrics;

    public MountManager(PeerOptions options, ILoggerFactory loggers, PeerMetrics metrics, PeerNetwork? network = null)
    {
        _metrics = metrics;
        _network = network;
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger("p2pdist.peer.mounts");
        DataDirectory.Secure(options.DataDir);
        _cache = new ChunkCache(options.CacheDir, options.CacheQuotaBytes, message => _log.LogWarning("{Message}", message));
        _cache.Evicted += digest =>
        {
            // Raised under the cache's eviction lock: the links only queue a withdrawal for the next announcement.
            foreach (var link in _links)
                link.Evicted(digest);
        };
        _materializer = new FileMaterializer(_cache, options.FilesDir);
    }

    public ChunkCache Cache => _cache;

    /// <summary>Whether <paramref name="mountPoint"/> is a mount of this daemon (or one being made now).</summary>
    public bool IsOurs(string mountPoint)
    {
        lock (_gate)
            return _mounts.ContainsKey(mountPoint) || _reserved.Contains(mountPoint);
    }

    /// <summary>
    /// Mounts a request already checked by <see cref="MountRequestValidator"/> (or restored from the state file).
    /// The mount point is reserved under a short lock and the registry I/O runs outside it, bounded, so a slow
    /// or hostile registry delays only its own mount, never another mount, unmount or listing.
    /// </summary>
    public async Task<MountInfo> MountAsync(MountRequest request, CancellationToken cancellationToken)
    {
        string mountPoint = request.MountPoint;
        lock (_gate)
        {
            if (_mounts.ContainsKey(mountPoint) || !_reserved.Add(mountPoint))
                throw new P2PDistException($"{mountPoint} is already a p2pdist mount");
        }
        try
        {
            if (request.ContainerRoot)
                Directory.CreateDirectory(mountPoint);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(MountDeadline);
            ActiveMount mount;
            try
            {
                mount = await OpenAsync(request, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new P2PDistException($"mount of {request.Reference} at {mountPoint}: no manifest and bootstrap within {MountDeadline.TotalSeconds:0} s");
            }
            mount = mount with { Request = request with { ManifestDigest = mount.Image.Image.Raw.Digest } };
            lock (_gate)
            {
                _mounts[mountPoint] = mount;
                MountsChanged();
                SaveState();
            }
            _log.LogInformation("mounted {Reference} ({Digest}) at {MountPoint}{Kind}", LogText.Clip(request.Reference), mount.Image.Image.Raw.Digest, mountPoint,
                request.ContainerRoot ? " (container root: setuid and devices honoured)" : " (nosuid,nodev)");
            return Describe(mount);
        }
        finally
        {
            lock (_gate)
                _reserved.Remove(mountPoint);
        }
    }

    /// <summary>How long a mount may take to fetch and verify its manifest and bootstrap.</summary>
    private static readonly TimeSpan MountDeadline = TimeSpan.FromMinutes(2);

    private async Task<ActiveMount> OpenAsync(MountRequest request, CancellationToken cancellationToken)
    {
        var registry = new RegistryOptions
        {
            PlainHttp = request.PlainHttp,
            Username = request.Username,
            Password = request.Password,
            CaCertificateFile = request.CaCertificateFile,
            RequestTimeout = TimeSpan.FromSeconds(Math.Min(_options.ReadTimeoutSeconds, 30)),
            // All of this node's traffic leaves from its own address (one link per node).
            SourceAddress = _options.Listen is { } listen ? System.Net.IPEndPoint.Parse(listen).Address : null,
        };
        var store = ImageStores.Open(ImageReference.Parse(request.Reference), registry);
        RafsImage? image = null;
        try
        {
            // The manifest and bootstrap are kept per manifest digest, so a restart remounts without the registry.
            string? keep = request.ManifestDigest is { } pinned ? KeptImageDirectory(pinned) : null;
            image = await RafsImage.OpenAsync(store, request.Platform, _options.ImagesDir, request.ManifestDigest, keep, cancellationToken).ConfigureAwait(false);
            if (keep is null)
                KeepLocalCopy(image);
            var source = new RegistryChunkSource(store);
            var log = _loggers.CreateLogger("p2pdist.peer.fetch");
            var peers = _network is null ? null : new MountPeerLink(image.Bootstrap, _network);
            var provider = new ChunkProvider(image.Bootstrap, _cache, source, _options.MergeBytes, message => log.LogWarning("{Message}", message), peers, inFlight: _inFlight, scheduler: _originQueue,
                metrics: _metrics.Fetch);
            if (peers is not null)
            {
                // Chunks of this image already in the cache (from before a restart, or from other images) are offered at once.
                for (uint c = 0; c < image.Bootstrap.ChunkCount; c++)
                {
                    if (_cache.Contains(image.Bootstrap.GetChunk(c).Digest))
                        peers.Stored(c);
                }
            }
            var fs = new RafsFileSystem(image.Bootstrap, provider, _options.Passthrough ? _materializer : null,
                TimeSpan.FromSeconds(_options.ReadTimeoutSeconds), _loggers.CreateLogger("p2pdist.peer.fs"), metrics: _metrics.Reads);
            var session = FuseSession.Mount(request.MountPoint, fs, _options.FuseWorkers, _options.Passthrough, request.ContainerRoot,
                TimeSpan.FromSeconds(_options.ReadTimeoutSeconds), _loggers.CreateLogger("p2pdist.peer.fuse"), _metrics.Fuse);
            SetKernelReadahead(request.MountPoint);
            // The image's stored size is its blobs' sizes: read from the blob table, not summed over every chunk.
            long imageBytes = image.Bootstrap.Blobs().Sum(b => (long)b.Size);
            var prefetch = Prefetcher.Start(image.Bootstrap, provider, _options.PrefetchAll, _options.PrefetchConcurrency, _loggers.CreateLogger("p2pdist.peer.prefetch"),
                _metrics.Prefetch.Begin(request.Reference));
            return new ActiveMount(request, image, store, source, provider, fs, session, prefetch, peers, imageBytes);
        }
        catch
        {
            image?.Dispose();
            store.Dispose();
            throw;
        }
    }

    public Task<bool> UnmountAsync(string mountPoint, bool forget, CancellationToken cancellationToken)
    {
        _ = cancellationToken; // the unmount itself is bounded by Close
        mountPoint = Path.GetFullPath(mountPoint);
        ActiveMount? mount;
        lock (_gate)
        {
            if (!_mounts.Remove(mountPoint, out mount))
                return Task.FromResult(false);
            MountsChanged();
            if (forget)
                SaveState();
        }
        Close(mount);
        if (mount.Request.ContainerRoot)
            TryRemoveEmptyDirectory(mountPoint);
        _log.LogInformation("unmounted {MountPoint}", mountPoint);
        return Task.FromResult(true);
    }

    private void TryRemoveEmptyDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory);
        }
        catch (IOException e)
        {
            _log.LogWarning("could not remove the container root directory {Directory}: {Reason}", directory, e.Message);
        }
    }

    /// <summary>Where a pinned image's manifest and bootstrap are kept: only ever a valid digest, directly under the images directory.</summary>
    private string KeptImageDirectory(string manifestDigest)
    {
        if (!OciDigest.IsValid(manifestDigest))
            throw new P2PDistException($"manifest digest '{LogText.Clip(manifestDigest, 80)}' is not sha256:<64 hex>");
        string directory = Path.Combine(_options.ImagesDir, manifestDigest.Replace(':', '-'));
        if (Path.GetDirectoryName(directory) != _options.ImagesDir)
            throw new P2PDistException($"manifest digest '{LogText.Clip(manifestDigest, 80)}' does not name a directory under {_options.ImagesDir}");
        return directory;
    }

    /// <summary>Copies a freshly fetched image's manifest and bootstrap to where a remount looks for them.</summary>
    private void KeepLocalCopy(RafsImage image)
    {
        string directory = KeptImageDirectory(image.Image.Raw.Digest);
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllBytes(Path.Combine(directory, "manifest.json"), image.Image.Raw.Bytes);
            BootstrapLayer.Keep(image.BootstrapPath, Path.Combine(directory, "bootstrap"));
        }
        catch (IOException e)
        {
            _log.LogWarning("could not keep a local copy of {Digest} for remounts: {Reason}", image.Image.Raw.Digest, e.Message);
        }
    }

    /// <summary>
    /// A FUSE mount's readahead defaults to 128 KiB (INIT can only lower it); the mount's bdi sets it. Larger
    /// means fewer READs for a file read in sequence, but the same window is read around every page fault of a
    /// mapped file, so on a cold image it multiplies what a random read fetches (see <see cref="PeerOptions.KernelReadaheadKb"/>).
    /// </summary>
    private void SetKernelReadahead(string mountPoint)
    {
        string? device = MountTable.DeviceOf(mountPoint);
        string knob = $"/sys/class/bdi/{device}/read_ahead_kb";
        try
        {
            if (_options.KernelReadaheadKb > 0 && device is not null && File.Exists(knob))
                File.WriteAllText(knob, _options.KernelReadaheadKb.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("could not set the kernel readahead of {MountPoint} ({Knob}): {Reason}", mountPoint, knob, e.Message);
        }
    }

    /// <summary>
    /// Ends a mount without pulling anything from under work still running on it (review H5): fetches, lease
    /// renewals and the prefetch are cancelled at once, the mount is detached, and the bootstrap mapping, the
    /// provider and the FUSE fds go only once every FUSE worker and every fetch has finished.
    /// </summary>
    private void Close(ActiveMount mount)
    {
        mount.Provider.Shutdown();
        mount.Prefetch.Stop();
        mount.Session.Dispose();
        _ = ReleaseWhenIdleAsync(mount);
    }

    private async Task ReleaseWhenIdleAsync(ActiveMount mount)
    {
        // Workers return when the kernel ends the connection: when the last user of the detached mount is gone.
        await mount.Session.Stopped.ConfigureAwait(false);
        await mount.Prefetch.Completion.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        await mount.Provider.DrainAsync().ConfigureAwait(false);
        mount.Provider.Dispose();
        mount.Image.Dispose();
        mount.Store.Dispose();
        _log.LogInformation("released {MountPoint}: no FUSE worker or fetch uses it any more", mount.Request.MountPoint);
    }

    public IReadOnlyList<MountInfo> List()
    {
        ActiveMount[] mounts;
        lock (_gate)
            mounts = _mounts.Values.ToArray();
        return mounts.Select(Describe).ToList();
    }

    private MountInfo Describe(ActiveMount m) => new(
        m.Request.MountPoint, m.Request.Reference, m.Image.Image.Raw.Digest, m.ImageBytes, m.FileSystem.BytesRead,
        m.Source.BytesFetched, m.Provider.Hits, m.Provider.Misses, m.FileSystem.ReadErrors, m.Provider.DigestFailures, m.FileSystem.PassthroughOpens, m.Peers?.BytesFromPeers ?? 0,
        m.Provider.CountCached(), m.Image.Bootstrap.ChunkCount);

    public int Count
    {
        get
        {
            lock (_gate)
                return _mounts.Count;
        }
    }

    /// <summary>
    /// Mounts again what the state file lists, first clearing stale p2pdist mounts a killed daemon left
    /// (ENOTCONN). Only a FUSE mount of ours is ever cleared (review M7); one bad entry, or a damaged state file,
    /// is logged and skipped, never a reason not to start.
    /// </summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        foreach (var request in MountState.Load(_options.StatePath, _log))
        {
            try
            {
                if (MountTable.FileSystemAt(request.MountPoint) is { } mounted)
                {
                    if (!MountTable.IsP2PDistFileSystem(mounted))
                    {
                        _log.LogError("not remounting {Reference} at {MountPoint}: a {FileSystem} file system (source {Source}) is mounted there now, and it is not ours",
                            LogText.Clip(request.Reference), request.MountPoint, mounted.Type, mounted.Source);
                        continue;
                    }
                    _log.LogWarning("clearing a stale p2pdist mount at {MountPoint} left by an earlier daemon", request.MountPoint);
                    FuseNative.Umount2(request.MountPoint, FuseNative.MntDetach);
                }
                await MountAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                _log.LogError("could not remount {Reference} at {MountPoint}: {Reason}", LogText.Clip(request.Reference), request.MountPoint, e.Message);
            }
        }
    }

    /// <summary>Called under <see cref="_gate"/>.</summary>
    private void SaveState() => MountState.Save(_options.StatePath, _mounts.Values.Select(m => m.Request).ToList());

    /// <summary>Unmounts everything but keeps the state file, so the next start mounts the same images again.</summary>
    public ValueTask DisposeAsync()
    {
        ActiveMount[] mounts;
        lock (_gate)
        {
            mounts = _mounts.Values.ToArray();
            _mounts.Clear();
            MountsChanged();
        }
        foreach (var mount in mounts)
            Close(mount);
        _materializer.Dispose();
        _originQueue.Dispose();
        return ValueTask.CompletedTask;
    }
}
