using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace P2PDist.Peer.Fuse;

/// <summary>
/// One FUSE mount: opens /dev/fuse, mounts it read-only at the mount point, and serves requests on several
/// dedicated worker threads, each with its own cloned device fd (FUSE_DEV_IOC_CLONE) and its own buffers.
/// Exceptions from the file system become EIO here and nowhere else. Unmounting (or ENODEV) ends the workers.
/// </summary>
internal sealed unsafe partial class FuseSession : IDisposable
{
    private readonly IFuseFileSystem _fs;
    private readonly ILogger _log;
    private readonly FuseOperationMetrics _metrics;
    private readonly List<int> _fds = [];
    private readonly List<Thread> _workers = [];
    private readonly List<WorkerState> _workerStates = [];
    private readonly TimeSpan _readTimeout;

    /// <summary>
    /// What one worker thread reuses from request to request: the token that carries the read deadline and
    /// INTERRUPT (reset, not reallocated), and the id of the request it is serving, for INTERRUPT to find.
    /// </summary>
    private sealed class WorkerState
    {
        public CancellationTokenSource Cancel = new();
        public ulong CurrentUnique;
        public volatile bool Interrupted;

        public CancellationToken Arm(ulong unique, TimeSpan deadline)
        {
            lock (this)
            {
                if (!Cancel.TryReset())
                {
                    Cancel.Dispose();
                    Cancel = new CancellationTokenSource();
                }
                Interrupted = false;
                CurrentUnique = unique;
                Cancel.CancelAfter(deadline);
                return Cancel.Token;
            }
        }

        public void Disarm()
        {
            lock (this)
                CurrentUnique = 0;
        }

        /// <summary>Cancels the request only if this worker is still serving it (never the next one).</summary>
        public void InterruptIfServing(ulong unique)
        {
            lock (this)
            {
                if (CurrentUnique != unique)
                    return;
                Interrupted = true;
                Cancel.Cancel();
            }
        }
    }
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _allowPassthrough;
    /// <summary>
    /// Backing ids by node, kept while the mount lives: the kernel resolves an id when the opener resumes,
    /// after our reply, so an id closed right after replying would fail that open.
    /// </summary>
    private readonly ConcurrentDictionary<ulong, uint> _backingIds = new();

    /// <summary>Opens of each node answered in cached (non-passthrough) mode and not yet released.</summary>
    private readonly ConcurrentDictionary<ulong, int> _cachedOpens = new();

    /// <summary>The fh of an OPEN reply says the mode the file was opened in, so RELEASE knows which count to drop.</summary>
    private const ulong CachedHandle = 1, PassthroughHandle = 2;
    private int _running;

    /// <summary>However few workers are configured, a mount may grow to this many while reads block (see FuseSession.Workers.cs).</summary>
    private const int MinElasticWorkers = 16;

    private FuseSession(string mountPoint, IFuseFileSystem fs, bool allowPassthrough, TimeSpan readTimeout, ILogger log, FuseOperationMetrics metrics)
    {
        _metrics = metrics;
        MountPoint = mountPoint;
        _readTimeout = readTimeout;
        _fs = fs;
        _allowPassthrough = allowPassthrough;
        _log = log;
    }

    /// <summary>Whether the kernel agreed to FUSE passthrough at INIT.</summary>
    public bool PassthroughEnabled { get; private set; }

    /// <summary>Registers a backing file with the kernel (FUSE_DEV_IOC_BACKING_OPEN); false if it refuses.</summary>
    private bool TryRegisterBacking(Microsoft.Win32.SafeHandles.SafeFileHandle file, out uint backingId)
    {
        var map = new FuseNative.BackingMap { Fd = (int)file.DangerousGetHandle() };
        int id = FuseNative.IoctlBacking(_fds[0], FuseProtocol.FuseDevIocBackingOpen, ref map);
        backingId = id > 0 ? (uint)id : 0;
        if (id <= 0)
            _log.LogWarning("FUSE passthrough: the kernel refused a backing file: {Error}", FuseNative.ErrorText(FuseNative.LastError));
        return id > 0;
    }

    public string MountPoint { get; }

    /// <summary>Completes when the kernel ends the session (unmount).</summary>
    public Task Stopped => _stopped.Task;

    /// <param name="containerRoot">
    /// Honour setuid bits and device nodes, as a container's overlayfs root does; only for mounts under the
    /// daemon's 0700 roots directory. Every other mount is nosuid,nodev: with allow_other, an image's setuid-root
    /// binary or device node would otherwise be usable by every user of the node (as fusermount forbids).
    /// </param>
    public static FuseSession Mount(string mountPoint, IFuseFileSystem fs, int workers, bool allowPassthrough, bool containerRoot, TimeSpan readTimeout, ILogger log,
        FuseOperationMetrics metrics)
    {
        if (!Directory.Exists(mountPoint))
            throw new IOException($"mount point {mountPoint} does not exist");
        var session = new FuseSession(mountPoint, fs, allowPassthrough, readTimeout, log, metrics);
        int fd = FuseNative.Open("/dev/fuse", FuseNative.ORdwr | FuseNative.OCloexec);
        if (fd < 0)
            throw new IOException($"cannot open /dev/fuse: {FuseNative.ErrorText(FuseNative.LastError)} (the peer must run as root with /dev/fuse present)");
        session._fds.Add(fd);
        string options = $"fd={fd},rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other";
        ulong flags = FuseNative.MsRdonly | (containerRoot ? 0 : FuseNative.MsNosuid | FuseNative.MsNodev);
        if (FuseNative.Mount("p2pdist", mountPoint, "fuse.p2pdist", flags, options) != 0)
        {
            int errno = FuseNative.LastError;
            FuseNative.Close(fd);
            throw new IOException($"mount of {mountPoint} failed: {FuseNative.ErrorText(errno)}");
        }
        for (int i = 1; i < workers; i++)
        {
            int clone = FuseNative.Open("/dev/fuse", FuseNative.ORdwr | FuseNative.OCloexec);
            int source = fd;
            if (clone < 0 || FuseNative.Ioctl(clone, FuseNative.FuseDevIocClone, ref source) != 0)
            {
                if (clone >= 0)
                    FuseNative.Close(clone);
                break; // fewer workers still work
            }
            session._fds.Add(clone);
        }
        session._running = session._fds.Count;
        session._maxWorkers = Math.Max(MinElasticWorkers, workers * 4);
        foreach (int workerFd in session._fds.ToArray())
            session.StartWorker(workerFd);
        return session;
    }

    private void Serve(int fd)
    {
        var request = new byte[FuseProtocol.InHeaderSize + 8192 + (128 << 10)];
        var reply = new FuseReply();
        var state = new WorkerState();
        lock (_workerStates)
            _workerStates.Add(state);
        try
        {
            while (true)
            {
                nint n;
                fixed (byte* p = request)
                    n = FuseNative.Read(fd, p, request.Length);
                if (n < 0)
                {
                    int errno = FuseNative.LastError;
                    if (errno is Errno.ENOENT or Errno.EINTR or Errno.EAGAIN)
                        continue;
                    if (errno != Errno.ENODEV)
                        _log.LogWarning("FUSE read on {MountPoint} failed: {Error}", MountPoint, FuseNative.ErrorText(errno));
                    return;
                }
                if (n < FuseProtocol.InHeaderSize)
                    continue;
                if (!Handle(fd, request.AsSpan(0, (int)n), reply, state))
                    return;
            }
        }
        finally
        {
            state.Cancel.Dispose();
            if (Interlocked.Decrement(ref _running) == 0)
                _stopped.TrySetResult();
        }
    }

    private void Send(int fd, FuseReply reply, int errno, ulong unique)
    {
        reply.Seal(errno, unique);
        nint written;
        fixed (byte* p = reply.Buffer)
            written = FuseNative.Write(fd, p, reply.Length);
        // ENOENT: the request was interrupted and is gone; nothing to do.
        if (written < 0 && FuseNative.LastError is not (Errno.ENOENT or Errno.ENODEV))
            _log.LogWarning("FUSE reply on {MountPoint} failed: {Error}", MountPoint, FuseNative.ErrorText(FuseNative.LastError));

    }

    /// <summary>Unmounts lazily (MNT_DETACH) so busy users do not block the daemon; the workers then see ENODEV.</summary>
    public void Unmount()
    {
        if (FuseNative.Umount2(MountPoint, FuseNative.MntDetach) != 0 && FuseNative.LastError != Errno.EINVAL)
            _log.LogWarning("unmount of {MountPoint} failed: {Error}", MountPoint, FuseNative.ErrorText(FuseNative.LastError));
    }

    /// <summary>
    /// Unmounts (lazily) and closes the device fds once every worker has returned, never before: a worker may
    /// still be finishing a request, and a closed fd number is soon reused by some unrelated file or socket,
    /// which its reply would then be written into (review H5). The workers return when the kernel ends the
    /// connection, that is when the last user of the detached mount has gone; <see cref="Stopped"/> says when.
    /// </summary>
    public void Dispose()
    {
        foreach (uint id in _backingIds.Values)
        {
            uint backingId = id;
            FuseNative.IoctlBackingClose(_fds[0], FuseProtocol.FuseDevIocBackingClose, ref backingId);
        }
        _backingIds.Clear();
        Unmount();
        _stopped.Task.ContinueWith(_ => CloseDevices(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void CloseDevices()
    {
        lock (_fds)
        {
            _closing = true;
            foreach (int fd in _fds)
                FuseNative.Close(fd);
            _fds.Clear();
        }
    }

    private static ulong U64(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt64LittleEndian(s[at..]);
    private static uint U32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);

    /// <summary>The NUL-terminated name at the start of <paramref name="body"/>.</summary>
    private static ReadOnlySpan<byte> CName(ReadOnlySpan<byte> body)
    {
        int end = body.IndexOf((byte)0);
        return end < 0 ? body : body[..end];
    }
}
