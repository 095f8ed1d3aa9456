using System.Collections.Concurrent;

namespace P2PDist.Peer.FileSystem;

/// <summary>
/// How far past a read a miss may fetch, per file, in the manner of the kernel's readahead: a read that does
/// not continue the file's previous read fetches only the chunks it touches (a random read, such as a page
/// fault in a shared library, must not pay for its neighbours); each read that does continue it doubles the
/// window, from <c>initialBytes</c> up to <c>maxBytes</c>, so a file streamed from start to end is fetched
/// in large requests.
/// </summary>
/// <remarks>
/// The state is a hint, not a lock: two readers of one file interleaving only shrink the window. It is
/// bounded by <see cref="MaxTrackedFiles"/>; past that it starts over, which costs readahead, not bytes.
/// </remarks>
internal sealed class SequentialReadahead(int initialBytes, int maxBytes)
{
    internal const int MaxTrackedFiles = 4096;

    private readonly ConcurrentDictionary<uint, Stream> _files = new();

    public int TrackedFiles => _files.Count;

    private readonly record struct Stream(ulong NextOffset, int Window);

    /// <summary>Records a read of <paramref name="length"/> bytes at <paramref name="offset"/> and returns its readahead window in bytes.</summary>
    public int WindowFor(uint ino, ulong offset, int length)
    {
        if (maxBytes <= 0)
            return 0;
        int window = 0;
        if (offset > 0 && _files.TryGetValue(ino, out var previous) && previous.NextOffset == offset)
            window = previous.Window == 0 ? Math.Min(initialBytes, maxBytes) : (int)Math.Min(2L * previous.Window, maxBytes);
        if (_files.Count >= MaxTrackedFiles && !_files.ContainsKey(ino))
            _files.Clear();
        _files[ino] = new Stream(offset + (ulong)length, window);
        return window;
    }
}
