using System.Collections.Concurrent;

namespace P2PDist.Peer.FileSystem;

/// <summary>
/// The order in which a workload first read each file of a mount (<c>p2pdist image optimize</c> turns it into
/// the image's prefetch table). Only READs reach it, so a file merely opened or stat'ed is not listed, and a
/// mapped library is listed at its first page fault. Bounded: past <see cref="MaxFiles"/> files it stops recording.
/// </summary>
public sealed class ReadRecorder
{
    public const int MaxFiles = 1 << 20;

    private readonly ConcurrentDictionary<uint, byte> _seen = new();
    private readonly ConcurrentQueue<uint> _order = new();

    public void Read(uint ino)
    {
        if (_seen.Count < MaxFiles && _seen.TryAdd(ino, 0))
            _order.Enqueue(ino);
    }

    /// <summary>Inode numbers, first read first.</summary>
    public IReadOnlyList<uint> Order => _order.ToArray();
}
