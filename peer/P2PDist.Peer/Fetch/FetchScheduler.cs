using System.Collections.Concurrent;
using P2PDist.Rafs;

namespace P2PDist.Peer.Fetch;

/// <summary>
/// Admits the node's origin requests by priority, so that the registry link goes to whoever waits now. One
/// scheduler serves every mount (like <see cref="InFlightChunks"/>): the link is the node's, not an image's.
/// </summary>
/// <remarks>
/// The rules, in order:
/// <list type="bullet">
/// <item>A reader is admitted whenever fewer than <c>slots</c> requests run, before any queued prefetch or background request.</item>
/// <item>A prefetch is admitted while no reader waits and prefetch and background requests together hold fewer than
/// <c>nonReaderSlots</c>: some slots are always left for readers, and a prefetch list runs beside the reads, not after them.</item>
/// <item>A background request is admitted only while nothing else waits, at most <c>backgroundSlots</c> at once, and
/// never while a reader's request runs or ended less than <c>readerQuiet</c> ago. Background requests are one chunk
/// each, so whatever runs when a reader arrives frees its slot within one chunk's time; after that the link is the
/// reader's until reads pause. A timer on the scheduler's <see cref="TimeProvider"/> resumes background work.</item>
/// </list>
/// A reader that joins a fetch still queued as prefetch or background promotes it (<see cref="Promote"/>): the
/// single flight must not make a reader wait behind background work.
/// </remarks>
public sealed class FetchScheduler : IDisposable
{
    /// <summary>Origin requests at once, for the node. Above the FUSE workers of a few busy mounts: readers do not queue in practice.</summary>
    public const int DefaultSlots = 32;
    /// <summary>Of those, what prefetch and background work may hold together.</summary>
    public const int DefaultNonReaderSlots = 8;
    /// <summary>Background requests at once (the whole-image fetch keeps a few origin fetches of its own going).</summary>
    public const int DefaultBackgroundSlots = 2;
    /// <summary>How long after a reader's last origin request background work stays paused: reads of one start-up come closer together than this.</summary>
    public static readonly TimeSpan DefaultReaderQuiet = TimeSpan.FromMilliseconds(500);

    private readonly int _slots, _nonReaderSlots, _backgroundSlots;
    private readonly TimeSpan _readerQuiet;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly LinkedList<FetchTicket>[] _queues = [new(), new(), new()];
    private readonly int[] _running = new int[3];
    private readonly ConcurrentDictionary<ChunkDigest, FetchTicket> _byDigest = new();
    private long _readerEndedAt = long.MinValue;
    private ITimer? _resume;
    private bool _disposed;

    public FetchScheduler(int slots = DefaultSlots, int nonReaderSlots = DefaultNonReaderSlots, int backgroundSlots = DefaultBackgroundSlots,
        TimeSpan? readerQuiet = null, TimeProvider? time = null)
    {
        if (slots < 1 || nonReaderSlots < 1 || nonReaderSlots > slots || backgroundSlots < 1 || backgroundSlots > nonReaderSlots)
            throw new ArgumentOutOfRangeException(nameof(slots), $"need 1 <= background ({backgroundSlots}) <= non-reader ({nonReaderSlots}) <= slots ({slots})");
        _slots = slots;
        _nonReaderSlots = nonReaderSlots;
        _backgroundSlots = backgroundSlots;
        _readerQuiet = readerQuiet ?? DefaultReaderQuiet;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Requests running now, by priority (as admitted).</summary>
    public int Running(FetchPriority priority)
    {
        lock (_gate)
            return _running[(int)priority];
    }

    /// <summary>Requests waiting now, by priority.</summary>
    public int Waiting(FetchPriority priority)
    {
        lock (_gate)
            return _queues[(int)priority].Count;
    }

    /// <summary>A ticket for one fetch; the fetch tracks it under each chunk it brings (<see cref="Track"/>) so joiners can promote it.</summary>
    public static FetchTicket NewTicket(FetchPriority priority) => new(priority);

    public void Track(ChunkDigest digest, FetchTicket ticket) => _byDigest[digest] = ticket;

    /// <summary>
    /// Tracks the ticket unless another is tracked for the chunk: called before the fetch registers in the single
    /// flight, so a joiner never finds the fetch without its ticket. False when another fetch's ticket is there.
    /// </summary>
    public bool TryTrack(ChunkDigest digest, FetchTicket ticket) => _byDigest.TryAdd(digest, ticket);

    /// <summary>Forgets the ticket of a chunk whose fetch ended (only this ticket: a new fetch of the chunk may have begun).</summary>
    public void Untrack(ChunkDigest digest, FetchTicket ticket) => _byDigest.TryRemove(new KeyValuePair<ChunkDigest, FetchTicket>(digest, ticket));

    /// <summary>Raises the priority of the fetch bringing <paramref name="digest"/>, if one runs and waits at a lower one.</summary>
    public void Promote(ChunkDigest digest, FetchPriority priority)
    {
        if (!_byDigest.TryGetValue(digest, out var ticket))
            return;
        lock (_gate)
        {
            if (priority >= ticket.Priority)
                return;
            if (ticket.Queued is { } node)
            {
                _queues[(int)ticket.Priority].Remove(node);
                ticket.Priority = priority;
                ticket.Queued = _queues[(int)priority].AddLast(ticket);
                Pump();
            }
            else
            {
                ticket.Priority = priority; // not queued yet (its peer phase runs): it will queue at the new priority
            }
        }
    }

    /// <summary>Waits for a slot for one origin request at the ticket's priority; dispose the slot when the request ends.</summary>
    public async ValueTask<OriginSlot> AdmitAsync(FetchTicket ticket, CancellationToken cancellationToken)
    {
        Task admitted;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (ticket.Queued is not null || ticket.Admission is { Task.IsCompleted: false })
                throw new InvalidOperationException("a ticket waits for one slot at a time");
            ticket.Admission = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            ticket.Queued = _queues[(int)ticket.Priority].AddLast(ticket);
            Pump();
            admitted = ticket.Admission.Task;
        }
        if (!admitted.IsCompleted)
        {
            try
            {
                await admitted.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    if (ticket.Queued is { } node)
                    {
                        _queues[(int)ticket.Priority].Remove(node);
                        ticket.Queued = null;
                        throw;
                    }
                }
                // Admitted just as the wait was cancelled: give the slot back.
                Release(ticket.AdmittedAs);
                throw;
            }
        }
        return new OriginSlot(this, ticket.AdmittedAs);
    }

    internal void Release(FetchPriority admittedAs)
    {
        lock (_gate)
        {
            _running[(int)admittedAs]--;
            if (admittedAs == FetchPriority.Reader)
                _readerEndedAt = _time.GetTimestamp();
            Pump();
        }
    }

    /// <summary>Admits whatever the rules allow now, in priority order; arms the resume timer when only the reader pause holds background work back.</summary>
    private void Pump()
    {
        while (true)
        {
            int total = _running[0] + _running[1] + _running[2];
            int nonReader = _running[1] + _running[2];
            if (total >= _slots)
                return;
            if (_queues[0].Count > 0)
            {
                Admit(FetchPriority.Reader);
                continue;
            }
            if (nonReader >= _nonReaderSlots)
                return;
            if (_queues[1].Count > 0)
            {
                Admit(FetchPriority.Prefetch);
                continue;
            }
            if (_queues[2].Count == 0 || _running[2] >= _backgroundSlots)
                return;
            if (ReaderPauseLeft() is { } left)
            {
                ArmResume(left);
                return;
            }
            Admit(FetchPriority.Background);
        }
    }

    /// <summary>How much longer background work must wait for the readers, or null when it may go.</summary>
    private TimeSpan? ReaderPauseLeft()
    {
        if (_running[0] > 0)
            return _readerQuiet; // re-checked when that reader's slot is released
        if (_readerEndedAt == long.MinValue)
            return null;
        var since = _time.GetElapsedTime(_readerEndedAt);
        return since >= _readerQuiet ? null : _readerQuiet - since;
    }

    private void ArmResume(TimeSpan after)
    {
        if (_running[0] > 0 || _disposed)
            return; // the reader's release pumps again
        _resume ??= _time.CreateTimer(_ => { lock (_gate) Pump(); }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _resume.Change(after, Timeout.InfiniteTimeSpan);
    }

    private void Admit(FetchPriority priority)
    {
        var ticket = _queues[(int)priority].First!.Value;
        _queues[(int)priority].RemoveFirst();
        ticket.Queued = null;
        ticket.AdmittedAs = priority;
        _running[(int)priority]++;
        ticket.Admission!.TrySetResult();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _resume?.Dispose();
        }
    }
}
