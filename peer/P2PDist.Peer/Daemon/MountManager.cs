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
    private readonly FileMaterializer _materializer;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, ActiveMount> _mounts = new(StringComparer.Ordinal);

    /// <summary>The mounts' swarm links, replaced whole on every mount change so the eviction callback reads it without a lock.</summary>
    private volatile MountPeerLink[] _links = [];

    private void MountsChanged() => _links = _mounts.Values.Select(m => m.Peers).OfType<MountPeerLink>().ToArray();

    private sealed record ActiveMount(MountRequest Request, RafsImage Image, IImageStore Store, RegistryChunkSource Source,
        ChunkProvider Provider, RafsFileSystem FileSystem, FuseSession Session, Prefetcher Prefetch, MountPeerLink? Peers, long ImageBytes);

    private readonly PeerNetwork? _network;

    public MountManager(PeerOptions options, ILoggerFactory loggers, PeerNetwork? network = null)
    {
        _network = network;
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger("p2pdist.peer.mounts");
        Directory.CreateDirectory(options.DataDir);
        _cache = new ChunkCache(options.CacheDir, options.CacheQuotaBytes);
        _cache.Evicted += digest =>
        {
            // Raised under the cache's eviction lock: the links only queue a withdrawal for the next announcement.
            foreach (var link in _links)
                link.Evicted(digest);
        };
        _materializer = new FileMaterializer(_cache, options.FilesDir);
    }

    public ChunkCache Cache => _cache;

    public async Task<MountInfo> MountAsync(MountRequest request, CancellationToken cancellationToken)
    {
        string mountPoint = Path.GetFullPath(request.MountPoint);
        request = request with { MountPoint = mountPoint };
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_mounts.ContainsKey(mountPoint))
                throw new P2PDistException($"{mountPoint} is already a p2pdist mount");
            if (!Directory.Exists(mountPoint))
                throw new P2PDistException($"mount point {mountPoint} does not exist or is not a directory");
            if (MountTable.IsMountPoint(mountPoint))
                throw new P2PDistException($"mount point {mountPoint} is busy: something is already mounted there");
            var mount = await OpenAsync(request, cancellationToken).ConfigureAwait(false);
            mount = mount with { Request = request with { ManifestDigest = mount.Image.Image.Raw.Digest } };
            _mounts[mountPoint] = mount;
            MountsChanged();
            SaveState();
            _log.LogInformation("mounted {Reference} ({Digest}) at {MountPoint}", request.Reference, mount.Image.Image.Raw.Digest, mountPoint);
            return Describe(mount);
        }
        finally
        {
            _lock.Release();
        }
    }

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
            string? keep = request.ManifestDigest is { } pinned ? Path.Combine(_options.ImagesDir, pinned.Replace(':', '-')) : null;
            image = await RafsImage.OpenAsync(store, request.Platform, _options.ImagesDir, request.ManifestDigest, keep, cancellationToken).ConfigureAwait(false);
            if (keep is null)
                KeepLocalCopy(image);
            var source = new RegistryChunkSource(store);
            var log = _loggers.CreateLogger("p2pdist.peer.fetch");
            var peers = _network is null ? null : new MountPeerLink(image.Bootstrap, _network);
            var provider = new ChunkProvider(image.Bootstrap, _cache, source, _options.MergeBytes, message => log.LogWarning("{Message}", message), peers);
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
                TimeSpan.FromSeconds(_options.ReadTimeoutSeconds), _loggers.CreateLogger("p2pdist.peer.fs"));
            var session = FuseSession.Mount(request.MountPoint, fs, _options.FuseWorkers, _options.Passthrough,
                TimeSpan.FromSeconds(_options.ReadTimeoutSeconds), _loggers.CreateLogger("p2pdist.peer.fuse"));
            RaiseReadahead(request.MountPoint);
            // The image's stored size is its blobs' sizes: read from the blob table, not summed over every chunk.
            long imageBytes = image.Bootstrap.Blobs().Sum(b => (long)b.Size);
            var prefetch = Prefetcher.Start(image.Bootstrap, provider, _options.PrefetchAll, _options.PrefetchConcurrency, _loggers.CreateLogger("p2pdist.peer.prefetch"));
            return new ActiveMount(request, image, store, source, provider, fs, session, prefetch, peers, imageBytes);
        }
        catch
        {
            image?.Dispose();
            store.Dispose();
            throw;
        }
    }

    public async Task<bool> UnmountAsync(string mountPoint, bool forget, CancellationToken cancellationToken)
    {
        mountPoint = Path.GetFullPath(mountPoint);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_mounts.Remove(mountPoint, out var mount))
                return false;
            MountsChanged();
            Close(mount);
            if (forget)
                SaveState();
            _log.LogInformation("unmounted {MountPoint}", mountPoint);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Copies a freshly fetched image's manifest and bootstrap to where a remount looks for them.</summary>
    private void KeepLocalCopy(RafsImage image)
    {
        string directory = Path.Combine(_options.ImagesDir, image.Image.Raw.Digest.Replace(':', '-'));
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllBytes(Path.Combine(directory, "manifest.json"), image.Image.Raw.Bytes);
            string bootstrap = Path.Combine(directory, "bootstrap");
            if (!File.Exists(bootstrap))
            {
                File.Copy(image.BootstrapPath, bootstrap + ".partial", overwrite: true);
                File.Move(bootstrap + ".partial", bootstrap, overwrite: true);
            }
        }
        catch (IOException e)
        {
            _log.LogWarning("could not keep a local copy of {Digest} for remounts: {Reason}", image.Image.Raw.Digest, e.Message);
        }
    }

    /// <summary>
    /// A FUSE mount's readahead defaults to 128 KiB, which cuts sequential reads into 128 KiB READs; INIT can
    /// only lower it. Raising the mount's bdi to 1 MiB (one chunk) makes one READ per chunk.
    /// </summary>
    private void RaiseReadahead(string mountPoint)
    {
        string? device = MountTable.DeviceOf(mountPoint);
        string knob = $"/sys/class/bdi/{device}/read_ahead_kb";
        try
        {
            if (device is not null && File.Exists(knob))
                File.WriteAllText(knob, "1024");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("could not raise readahead of {MountPoint} ({Knob}): {Reason}", mountPoint, knob, e.Message);
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
        _lock.Wait();
        try
        {
            return _mounts.Values.Select(Describe).ToList();
        }
        finally
        {
            _lock.Release();
        }
    }

    private MountInfo Describe(ActiveMount m) => new(
        m.Request.MountPoint, m.Request.Reference, m.Image.Image.Raw.Digest, m.ImageBytes, m.FileSystem.BytesRead,
        m.Source.BytesFetched, m.Provider.Hits, m.Provider.Misses, m.FileSystem.ReadErrors, m.Provider.DigestFailures, m.FileSystem.PassthroughOpens, m.Peers?.BytesFromPeers ?? 0,
        m.Provider.CountCached(), m.Image.Bootstrap.ChunkCount);

    public int Count => _mounts.Count;

    /// <summary>Mounts again what the state file lists, first clearing stale mounts a killed daemon left.</summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_options.StatePath))
            return;
        var requests = JsonSerializer.Deserialize<List<MountRequest>>(await File.ReadAllBytesAsync(_options.StatePath, cancellationToken).ConfigureAwait(false)) ?? [];
        foreach (var request in requests)
        {
            if (MountTable.IsMountPoint(request.MountPoint))
            {
                _log.LogWarning("clearing a stale mount at {MountPoint} left by an earlier daemon", request.MountPoint);
                FuseNative.Umount2(request.MountPoint, FuseNative.MntDetach);
            }
            try
            {
                await MountAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is P2PDistException or OciException or IOException)
            {
                _log.LogError("could not remount {Reference} at {MountPoint}: {Reason}", request.Reference, request.MountPoint, e.Message);
            }
        }
    }

    private void SaveState()
    {
        string temporary = _options.StatePath + ".partial";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(_mounts.Values.Select(m => m.Request).ToList()));
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite); // may hold registry credentials
        File.Move(temporary, _options.StatePath, overwrite: true);
    }

    /// <summary>Unmounts everything but keeps the state file, so the next start mounts the same images again.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        foreach (var mount in _mounts.Values)
            Close(mount);
        _mounts.Clear();
        MountsChanged();
        _lock.Release();
    }
}
