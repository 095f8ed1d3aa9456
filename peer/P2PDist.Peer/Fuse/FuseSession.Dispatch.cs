using System.Buffers.Binary;
using Microsoft.Extensions.Logging;

namespace P2PDist.Peer.Fuse;

// Request dispatch: one method per opcode family, each decoding its *_in struct from the request body and
// writing its *_out struct into the reply. Struct layouts follow include/uapi/linux/fuse.h.
internal sealed partial class FuseSession
{
    /// <summary>Handles one request; returns false when the session must end (DESTROY).</summary>
    private bool Handle(int fd, ReadOnlySpan<byte> request, FuseReply reply, WorkerState state)
    {
        var opcode = (FuseOpcode)U32(request, 4);
        ulong unique = U64(request, 8);
        ulong node = U64(request, 16);
        var body = request[FuseProtocol.InHeaderSize..];
        reply.Reset();
        long received = System.Diagnostics.Stopwatch.GetTimestamp();
        int errno;
        try
        {
            switch (opcode)
            {
                case FuseOpcode.Forget or FuseOpcode.BatchForget:
                    return true; // node ids are stable inode numbers: nothing to forget, and no reply
                case FuseOpcode.Interrupt:
                    Interrupt(U64(body, 0));
                    return true;
                case FuseOpcode.Destroy:
                    Send(fd, reply, 0, unique);
                    return false;
                default:
                    errno = Dispatch(opcode, unique, node, body, reply, state);
                    break;
            }
        }
        catch (Exception e)
        {
            // The one place file-system failures become errno: anything unexpected is EIO, logged with the op.
            _log.LogError(e, "FUSE {Opcode} on node {Node} of {MountPoint} failed", opcode, node, MountPoint);
            errno = Errno.EIO;
        }
        Send(fd, reply, errno, unique);
        _metrics.Observe(opcode, errno, System.Diagnostics.Stopwatch.GetElapsedTime(received));
        return true;
    }

    private int Dispatch(FuseOpcode opcode, ulong unique, ulong node, ReadOnlySpan<byte> body, FuseReply reply, WorkerState state)
    {
        switch (opcode)
        {
            case FuseOpcode.Init:
                return Init(body, reply);
            case FuseOpcode.Lookup:
            {
                int errno = _fs.Lookup(node, CName(body), out var attributes);
                if (errno == Errno.ENOENT)
                {
                    WriteEntry(reply, default, negative: true); // cache the miss too: the image never changes
                    return 0;
                }
                if (errno == 0)
                    WriteEntry(reply, attributes, negative: false);
                return errno;
            }
            case FuseOpcode.Getattr:
            {
                int errno = _fs.GetAttributes(node, out var attributes);
                if (errno == 0)
                {
                    reply.U64(FuseProtocol.CacheSeconds);
                    reply.U32(0);
                    reply.U32(0);
                    WriteAttributes(reply, attributes);
                }
                return errno;
            }
            case FuseOpcode.Readlink:
                return _fs.ReadLink(node, reply);
            case FuseOpcode.Open:
            {
                using var blocking = EnterBlocking(); // the open may look up and open a passthrough copy on disk
                // The kernel keeps one I/O mode per inode: while any open of a file reads through the page
                // cache (opened before the file was fully cached), an open with PASSTHROUGH fails with EIO, and
                // the other way round. So a file open in cached mode gets no passthrough until those opens close.
                bool cachedOpen = _cachedOpens.TryGetValue(node, out int cachedCount) && cachedCount > 0;
                bool known = _backingIds.TryGetValue(node, out uint backingId) && !cachedOpen;
                int errno = _fs.Open(node, U32(body, 0), PassthroughEnabled && !known && !cachedOpen, out var backing);
                if (errno != 0)
                    return errno;
                using (backing)
                {
                    if (backing is not null && TryRegisterBacking(backing, out uint registered))
                        backingId = _backingIds.GetOrAdd(node, registered);
                }
                if (backingId != 0 && !cachedOpen)
                {
                    // KEEP_CACHE together with PASSTHROUGH makes open() fail: the backing file's page cache serves instead.
                    reply.U64(PassthroughHandle);
                    reply.U32(FuseProtocol.FopenPassthrough);
                    reply.U32(backingId);
                    return 0;
                }
                _cachedOpens.AddOrUpdate(node, 1, (_, count) => count + 1);
                reply.U64(CachedHandle);
                reply.U32(FuseProtocol.FopenKeepCache);
                reply.U32(0);
                return 0;
            }
            case FuseOpcode.Opendir:
                WriteOpen(reply, FuseProtocol.FopenKeepCache | FuseProtocol.FopenCacheDir);
                return 0;
            case FuseOpcode.Read:
                return Read(unique, node, body, reply, state);
            case FuseOpcode.Readdir or FuseOpcode.Readdirplus:
                return ReadDirectory(node, body, reply, plus: opcode == FuseOpcode.Readdirplus);
            case FuseOpcode.Release:
                // fuse_release_in starts with the fh this daemon chose at OPEN.
                if (body.Length >= 8 && BinaryPrimitives.ReadUInt64LittleEndian(body) == CachedHandle)
                    _cachedOpens.AddOrUpdate(node, 0, (_, count) => Math.Max(0, count - 1));
                _fs.Release(node);
                return 0;
            case FuseOpcode.Releasedir or FuseOpcode.Flush or FuseOpcode.Access:
                return 0;
            case FuseOpcode.Statfs:
            {
                var (blocks, files) = _fs.StatFs();
                reply.U64(blocks);
                reply.U64(0);
                reply.U64(0);
                reply.U64(files);
                reply.U64(0);
                reply.U32(4096);
                reply.U32(255);
                reply.U32(4096);
                reply.Zeros(4 + 24);
                return 0;
            }
            case FuseOpcode.Getxattr:
            {
                uint size = U32(body, 0);
                int errno = _fs.GetXattr(node, CName(body[8..]), out var value);
                return errno != 0 ? errno : SizedReply(reply, value, size);
            }
            case FuseOpcode.Listxattr:
            {
                uint size = U32(body, 0);
                int errno = _fs.ListXattrs(node, out var names);
                return errno != 0 ? errno : SizedReply(reply, names, size);
            }
            case FuseOpcode.Setattr or FuseOpcode.Symlink or FuseOpcode.Mknod or FuseOpcode.Mkdir or FuseOpcode.Unlink
                or FuseOpcode.Rmdir or FuseOpcode.Rename or FuseOpcode.Link or FuseOpcode.Write or FuseOpcode.Setxattr
                or FuseOpcode.Removexattr or FuseOpcode.Create or FuseOpcode.Fallocate or FuseOpcode.Rename2
                or FuseOpcode.CopyFileRange or FuseOpcode.Tmpfile:
                return Errno.EROFS;
            default:
                return Errno.ENOSYS;
        }
    }

    private int Init(ReadOnlySpan<byte> body, FuseReply reply)
    {
        uint major = U32(body, 0), minor = U32(body, 4), maxReadahead = U32(body, 8), offered = U32(body, 12);
        uint offered2 = (offered & FuseProtocol.InitExt) != 0 ? U32(body, 16) : 0;
        if (major != FuseProtocol.KernelMajor)
        {
            _log.LogError("kernel speaks FUSE {Major}.{Minor}; this daemon speaks 7.x", major, minor);
            return Errno.EINVAL;
        }
        uint wanted = FuseProtocol.AsyncRead | FuseProtocol.DoReaddirplus | FuseProtocol.ReaddirplusAuto
            | FuseProtocol.ParallelDirops | FuseProtocol.MaxPages | FuseProtocol.CacheSymlinks;
        reply.U32(FuseProtocol.KernelMajor);
        reply.U32(Math.Min(minor, FuseProtocol.OurMinor));
        reply.U32(maxReadahead);
        PassthroughEnabled = _allowPassthrough && (offered2 & FuseProtocol.Flags2Passthrough) != 0;
        reply.U32((offered & wanted) | (PassthroughEnabled ? FuseProtocol.InitExt : 0));
        reply.U16(64);          // max_background
        reply.U16(48);          // congestion_threshold
        reply.U32(128 << 10);   // max_write (nothing is written; the kernel still wants a value)
        reply.U32(1);           // time_gran: nanoseconds
        reply.U16(FuseProtocol.MaxPagesValue);
        reply.U16(0);           // map_alignment
        reply.U32(PassthroughEnabled ? FuseProtocol.Flags2Passthrough : 0); // flags2
        reply.U32(PassthroughEnabled ? 1u : 0);  // max_stack_depth: backing files sit on a plain file system
        reply.Zeros(24);        // request_timeout and unused
        return 0;
    }

    private int Read(ulong unique, ulong node, ReadOnlySpan<byte> body, FuseReply reply, WorkerState state)
    {
        using var blocking = EnterBlocking();
        ulong offset = U64(body, 8);
        int size = (int)Math.Min(U32(body, 16), (uint)FuseProtocol.MaxReadBytes);
        var token = state.Arm(unique, _readTimeout);
        try
        {
            int n = _fs.Read(node, offset, reply.ReserveMemory(size), token); // filled in place: no copy, no allocation
            if (state.Interrupted)
                return Errno.EINTR;
            if (n < 0)
                return -n;
            reply.Advance(n);
            return 0;
        }
        catch (OperationCanceledException) when (state.Interrupted)
        {
            return Errno.EINTR;
        }
        finally
        {
            state.Disarm();
        }
    }

    /// <summary>FUSE_INTERRUPT: cancels the wait of the worker serving that request, which then answers EINTR.</summary>
    private void Interrupt(ulong unique)
    {
        lock (_workerStates)
        {
            foreach (var worker in _workerStates)
                worker.InterruptIfServing(unique);
        }
    }

    private int ReadDirectory(ulong node, ReadOnlySpan<byte> body, FuseReply reply, bool plus)
    {
        ulong offset = U64(body, 8);
        int size = (int)Math.Min(U32(body, 16), (uint)reply.Capacity);
        int limit = reply.Length + size;
        ulong next = offset;
        return _fs.ReadDirectory(node, offset, (ulong ino, ReadOnlySpan<byte> name, in FuseAttributes attributes) =>
        {
            int record = FuseProtocol.DirentHeaderSize + ((name.Length + 7) & ~7);
            if (plus)
                record += FuseProtocol.EntryOutSize;
            if (reply.Length + record > limit)
                return false;
            next++;
            if (plus)
            {
                bool dot = name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);
                // The kernel does not take a lookup reference for "." and ".."; it ignores their entry.
                WriteEntry(reply, attributes, negative: dot);
            }
            reply.U64(ino);
            reply.U64(next);
            reply.U32((uint)name.Length);
            reply.U32((attributes.Mode >> 12) & 0xF);
            reply.Bytes(name);
            reply.Zeros(((name.Length + 7) & ~7) - name.Length);
            return true;
        });
    }

    private static int SizedReply(FuseReply reply, byte[] value, uint size)
    {
        if (size == 0)
        {
            reply.U32((uint)value.Length); // struct fuse_getxattr_out: the size the caller needs
            reply.U32(0);
            return 0;
        }
        if (value.Length > size)
            return Errno.ERANGE;
        reply.Bytes(value);
        return 0;
    }

    private static void WriteOpen(FuseReply reply, uint flags)
    {
        reply.U64(0);
        reply.U32(flags);
        reply.U32(0);
    }

    private static void WriteEntry(FuseReply reply, in FuseAttributes attributes, bool negative)
    {
        reply.U64(negative ? 0 : attributes.Ino);
        reply.U64(0); // generation: inode numbers are never reused within an image
        reply.U64(FuseProtocol.CacheSeconds);
        reply.U64(FuseProtocol.CacheSeconds);
        reply.U32(0);
        reply.U32(0);
        WriteAttributes(reply, attributes);
    }

    private static void WriteAttributes(FuseReply reply, in FuseAttributes a)
    {
        reply.U64(a.Ino);
        reply.U64(a.Size);
        reply.U64((a.Size + 511) / 512);
        ulong seconds = (ulong)a.MtimeSeconds;
        reply.U64(seconds); // atime, mtime, ctime: the image's mtime (it has no other times)
        reply.U64(seconds);
        reply.U64(seconds);
        reply.U32(a.MtimeNanoseconds);
        reply.U32(a.MtimeNanoseconds);
        reply.U32(a.MtimeNanoseconds);
        reply.U32(a.Mode);
        reply.U32(a.Nlink);
        reply.U32(a.Uid);
        reply.U32(a.Gid);
        reply.U32(a.Rdev);
        reply.U32(4096);
        reply.U32(0);
    }
}
