using System.Text;
using Microsoft.Extensions.Logging;
using P2PDist.Oci;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Peer.Fuse;
using P2PDist.Rafs;
using Prometheus;

namespace P2PDist.Peer.FileSystem;

/// <summary>
/// File-system semantics over one bootstrap: inode numbers are FUSE node ids, attributes come straight from
/// the inode records, and a read is cut into chunk slices that the <see cref="ChunkProvider"/> fills.
/// A read waits at most <see cref="ReadTimeout"/>; past it, or on any fetch or verification failure, EIO.
/// </summary>
/// <param name="recorder">Told of every read, when the mount records what a workload reads (image optimize).</param>
internal sealed class RafsFileSystem(RafsBootstrap bootstrap, ChunkProvider chunks, FileMaterializer? materializer, TimeSpan readTimeout, ILogger log,
    ReadRecorder? recorder = null, ReadMetrics? metrics = null) : IFuseFileSystem
{
    private readonly ReadMetrics _metrics = metrics ?? new ReadMetrics(MetricFactories.Detached());

    /// <summary>The first window of a file read in sequence: the kernel's own default readahead (128 KiB).</summary>
    private const int InitialReadaheadBytes = 128 << 10;

    private readonly SequentialReadahead _readahead = new(InitialReadaheadBytes, chunks.MaxMergeBytes);
    private long _passthroughOpens;

    public long PassthroughOpens => Interlocked.Read(ref _passthroughOpens);

    private long _bytesRead;
    private long _readErrors;

    public TimeSpan ReadTimeout { get; } = readTimeout;
    public long BytesRead => Interlocked.Read(ref _bytesRead);
    public long ReadErrors => Interlocked.Read(ref _readErrors);

    private bool Exists(ulong node) => node >= 1 && node <= (ulong)bootstrap.InodeCount;

    private FuseAttributes Attributes(uint ino)
    {
        var i = bootstrap.GetInode(ino);
        uint rdev = (i.RdevMinor & 0xFF) | (i.RdevMajor << 8) | ((i.RdevMinor & ~0xFFu) << 12); // new_encode_dev
        return new FuseAttributes(ino, i.Size, i.MtimeSeconds, i.MtimeNanoseconds, i.Mode, i.Nlink, i.Uid, i.Gid, rdev);
    }

    public int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseAttributes attributes)
    {
        attributes = default;
        if (!Exists(parent))
            return Errno.ENOENT;
        if (!bootstrap.GetInode((uint)parent).IsDirectory)
            return Errno.ENOTDIR;
        uint ino = bootstrap.LookupChild((uint)parent, name);
        if (ino == 0)
            return Errno.ENOENT;
        attributes = Attributes(ino);
        return 0;
    }

    public int GetAttributes(ulong node, out FuseAttributes attributes)
    {
        attributes = default;
        if (!Exists(node))
            return Errno.ENOENT;
        attributes = Attributes((uint)node);
        return 0;
    }

    /// <summary>PATH_MAX less the NUL: no symlink target on Linux is longer (review L4: a hostile bootstrap's may be).</summary>
    private const int MaxSymlinkTarget = 4095;
    private const int ENameTooLong = 36;

    /// <summary>
    /// Encoded symlink targets by inode, so a READLINK (one per path walk through a link) allocates nothing
    /// after the first; bounded, as the image chooses how many links it has.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, byte[]> _linkTargets = new();
    private long _linkTargetBytes;
    private const long MaxCachedLinkTargetBytes = 4 << 20;

    public int ReadLink(ulong node, FuseReply reply)
    {
        if (!Exists(node))
            return Errno.EINVAL;
        var inode = bootstrap.GetInode((uint)node);
        if (!inode.IsSymlink)
            return Errno.EINVAL;
        if (inode.Count > MaxSymlinkTarget)
            return ENameTooLong;
        if (!_linkTargets.TryGetValue((uint)node, out var target))
        {
            target = Encoding.UTF8.GetBytes(bootstrap.SymlinkTarget((uint)node));
            if (Interlocked.Add(ref _linkTargetBytes, target.Length) <= MaxCachedLinkTargetBytes)
                _linkTargets.TryAdd((uint)node, target);
        }
        reply.Bytes(target);
        return 0;
    }

    public int Open(ulong node, uint flags, bool passthroughAvailable, out Microsoft.Win32.SafeHandles.SafeFileHandle? backingFile)
    {
        backingFile = null;
        if (!Exists(node))
            return Errno.ENOENT;
        const uint accessMode = 3, truncate = 0x200;
        if ((flags & accessMode) != 0 || (flags & truncate) != 0)
            return Errno.EROFS;
        ForEachChunk(node, chunks.Pin); // an open file's chunks stay in the cache
        try
        {
            if (passthroughAvailable && materializer is not null)
                backingFile = TryBackingFile((uint)node);
        }
        catch
        {
            // The kernel sends no RELEASE for a failed OPEN: its pins go now or never (review L9).
            ForEachChunk(node, chunks.Unpin);
            throw;
        }
        return 0;
    }

    /// <summary>
    /// A file with a whole copy is served by the kernel from it: no READ reaches us. Null when there is no copy
    /// (one is asked for if every chunk is cached: a later open finds it), or it vanished (evicted) before it
    /// could be opened: plain FUSE reads then. The open itself never waits for a copy to be written.
    /// </summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle? TryBackingFile(uint node)
    {
        var inode = bootstrap.GetInode(node);
        if (inode.Size < FileMaterializer.MinCopyBytes)
            return null;
        var (start, count) = bootstrap.ChunkRefRange(node);
        var fileChunks = new List<RafsChunk>((int)count);
        for (uint i = start; i < start + count; i++)
            fileChunks.Add(bootstrap.GetChunk(bootstrap.GetChunkRef(i).ChunkIndex));
        if (materializer!.ExistingOrRequest(fileChunks, inode.Size) is not { } path)
            return null;
        try
        {
            var backing = File.OpenHandle(path);
            Interlocked.Increment(ref _passthroughOpens);
            return backing;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public void Release(ulong node)
    {
        if (Exists(node))
            ForEachChunk(node, chunks.Unpin);
    }

    private void ForEachChunk(ulong node, Action<uint> action)
    {
        var (start, count) = bootstrap.ChunkRefRange((uint)node);
        for (uint i = start; i < start + count; i++)
            action(bootstrap.GetChunkRef(i).ChunkIndex);
    }

    public int Read(ulong node, ulong offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!Exists(node))
            return -Errno.ENOENT;
        var inode = bootstrap.GetInode((uint)node);
        if (!inode.IsRegular)
            return -Errno.EINVAL;
        if (offset >= inode.Size)
            return 0;
        int length = (int)Math.Min((ulong)destination.Length, inode.Size - offset);
        recorder?.Read((uint)node);
        // The fetch is asynchronous; the worker thread waits for it. A cache hit completes synchronously and
        // writes straight into the reply buffer. The token carries both the read deadline and INTERRUPT: the
        // session arms it per request (see FuseSession.RequestToken).
        using var inFlight = _metrics.ReadsInFlight.TrackInProgress();
        try
        {
            var pending = ReadAsync((uint)node, offset, destination[..length], inode.Size, cancellationToken);
            if (!pending.IsCompletedSuccessfully)
                pending.AsTask().GetAwaiter().GetResult();
            Interlocked.Add(ref _bytesRead, length);
            _metrics.ReadBytes.Inc(length);
            return length;
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or P2PDistException or OciException or IOException)
        {
            Interlocked.Increment(ref _readErrors);
            _metrics.ReadErrors.Inc();
            log.LogError("read of inode {Ino} bytes {Offset}+{Length} failed: {Reason}", node, offset, length,
                e is OperationCanceledException ? $"cancelled: no data within the {ReadTimeout.TotalSeconds:0.#} s read deadline, or the reader was interrupted" : e.Message);
            return -Errno.EIO;
        }
    }

    private async ValueTask ReadAsync(uint ino, ulong offset, Memory<byte> destination, ulong fileSize, CancellationToken cancellationToken)
    {
        // Readahead stops at the end of the file: what follows in the blob belongs to other files.
        ulong wantedThrough = Math.Min(offset + (ulong)destination.Length + (ulong)_readahead.WindowFor(ino, offset, destination.Length), fileSize);
        int done = 0;
        while (done < destination.Length)
        {
            ulong at = offset + (ulong)done;
            long refIndex = bootstrap.FindChunkRef(ino, at);
            if (refIndex < 0)
                throw new P2PDistException($"inode {ino}: no chunk holds byte {at}");
            var chunkRef = bootstrap.GetChunkRef((uint)refIndex);
            int inChunk = (int)(at - chunkRef.FileOffset);
            uint chunkSize = bootstrap.GetChunkUncompressedSize(chunkRef.ChunkIndex);
            int take = Math.Min(destination.Length - done, (int)chunkSize - inChunk);
            // A miss may bring in the rest of this read and the window with it, in one request.
            ulong chunkEnd = chunkRef.FileOffset + chunkSize;
            int readahead = wantedThrough > chunkEnd ? (int)Math.Min(wantedThrough - chunkEnd, int.MaxValue) : 0;
            await chunks.CopyAsync(chunkRef.ChunkIndex, inChunk, destination.Slice(done, take), readahead, cancellationToken).ConfigureAwait(false);
            done += take;
        }
    }

    public int ReadDirectory(ulong node, ulong index, DirectoryEntrySink emit)
    {
        if (!Exists(node))
            return Errno.ENOENT;
        var dir = bootstrap.GetInode((uint)node);
        if (!dir.IsDirectory)
            return Errno.ENOTDIR;
        if (index == 0 && !emit(node, "."u8, Attributes((uint)node)))
            return 0;
        if (index <= 1 && !emit(dir.Parent, ".."u8, Attributes(dir.Parent)))
            return 0;
        ulong position = 2;
        foreach (var (direntIndex, child) in bootstrap.ReadDirectory((uint)node))
        {
            if (position++ < index)
                continue;
            if (!emit(child, bootstrap.DirentName(direntIndex), Attributes(child)))
                break;
        }
        return 0;
    }

    public int GetXattr(ulong node, ReadOnlySpan<byte> name, out byte[] value)
    {
        value = [];
        if (!Exists(node))
            return Errno.ENOENT;
        string wanted = Encoding.UTF8.GetString(name);
        foreach (var xattr in bootstrap.Xattrs((uint)node))
        {
            if (xattr.Name == wanted)
            {
                value = xattr.Value;
                return 0;
            }
        }
        return Errno.ENODATA;
    }

    public int ListXattrs(ulong node, out byte[] names)
    {
        names = [];
        if (!Exists(node))
            return Errno.ENOENT;
        var list = new MemoryStream();
        foreach (var xattr in bootstrap.Xattrs((uint)node))
        {
            list.Write(Encoding.UTF8.GetBytes(xattr.Name));
            list.WriteByte(0);
        }
        names = list.ToArray();
        return 0;
    }

    private ulong? _blocks;

    public (ulong Blocks, ulong Files) StatFs()
    {
        // Summed once: the image never changes, and statfs is called often (df, container runtimes).
        _blocks ??= SumChunkBlocks();
        return (_blocks.Value, (ulong)bootstrap.InodeCount);
    }

    private ulong SumChunkBlocks()
    {
        ulong bytes = 0;
        for (uint c = 0; c < bootstrap.ChunkCount; c++)
            bytes += bootstrap.GetChunk(c).UncompressedSize;
        return (bytes + 4095) / 4096;
    }
}
