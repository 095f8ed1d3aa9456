namespace P2PDist.Peer.Fuse;

// Elastic workers (review M8). A READ of an uncached chunk, or an OPEN that copies a whole file for
// passthrough, blocks its worker until the data arrives. The kernel hands each request to whichever worker is
// waiting in read(2), so with every worker blocked a LOOKUP or GETATTR would queue behind slow reads. Before a
// worker starts such a request, it makes sure one worker stays free: it clones one more device fd and starts
// a worker on it, up to a bound. Workers stay until the session ends (a burst leaves a few idle threads).
internal sealed unsafe partial class FuseSession
{
    /// <summary>The most workers one mount may have, whatever the load.</summary>
    private int _maxWorkers;

    /// <summary>Workers inside a request that may block (READ, OPEN).</summary>
    private int _blocking;

    private bool _closing;

    /// <summary>Marks the calling worker as busy with a request that may block, keeping one worker free for others.</summary>
    private BlockingScope EnterBlocking()
    {
        int blocking = Interlocked.Increment(ref _blocking);
        if (blocking >= Volatile.Read(ref _running))
            TryAddWorker();
        return new BlockingScope(this);
    }

    private readonly struct BlockingScope(FuseSession session) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref session._blocking);
    }

    private void TryAddWorker()
    {
        lock (_fds)
        {
            if (_closing || _fds.Count == 0 || _running >= _maxWorkers || _running == 0)
                return;
            int clone = FuseNative.Open("/dev/fuse", FuseNative.ORdwr | FuseNative.OCloexec);
            int source = _fds[0];
            if (clone < 0 || FuseNative.Ioctl(clone, FuseNative.FuseDevIocClone, ref source) != 0)
            {
                if (clone >= 0)
                    FuseNative.Close(clone);
                return; // the workers there are keep serving
            }
            _fds.Add(clone);
            Interlocked.Increment(ref _running);
            StartWorker(clone);
        }
    }

    private void StartWorker(int fd)
    {
        var thread = new Thread(() => Serve(fd)) { IsBackground = true, Name = $"fuse {MountPoint}" };
        lock (_workers)
            _workers.Add(thread);
        thread.Start();
    }
}
