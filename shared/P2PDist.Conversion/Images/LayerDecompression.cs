using P2PDist.Oci;
using System.IO.Compression;
using P2PDist.Rafs;
using ZstdSharp;

namespace P2PDist.Conversion.Images;

/// <summary>
/// Opens a layer's uncompressed tar stream. The compression is taken from the content's magic bytes, not only
/// the media type, because registries in the wild mislabel layers; gzip, zstd and plain tar are accepted.
/// </summary>
internal static class LayerDecompression
{
    public static Stream Open(Stream compressed, string layerName)
    {
        var buffered = new BufferedStream(compressed, 1 << 16);
        Span<byte> magic = stackalloc byte[4];
        int n = 0;
        int read;
        // Peek: BufferedStream has no peek, so read into its buffer via a one-off read and push back by wrapping.
        var head = new byte[4];
        while (n < 4 && (read = buffered.Read(head, n, 4 - n)) > 0)
            n += read;
        head.AsSpan(0, n).CopyTo(magic);
        Stream rewound = new PrefixedStream(head.AsMemory(0, n), buffered);
        if (n >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
            return new ErrorNamingStream(new GZipStream(rewound, CompressionMode.Decompress), layerName, "gzip");
        if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
            return new ErrorNamingStream(new DecompressionStream(rewound), layerName, "zstd");
        return rewound;
    }

    /// <summary>Replays a few bytes already read, then continues with the rest of the stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (_prefix.Length > 0)
            {
                int n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                return n;
            }
            return rest.Read(buffer);
        }


        protected override void Dispose(bool disposing)
        {
            if (disposing)
                rest.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Turns a decompressor's exception into one that names the layer and the codec.</summary>
    private sealed class ErrorNamingStream(Stream inner, string layerName, string codec) : ReadOnlyStream
    {
        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (InvalidDataException e)
            {
                throw new P2PDistException($"{layerName}: corrupt {codec} stream: {e.Message}", e);
            }
            catch (ZstdException e)
            {
                throw new P2PDistException($"{layerName}: corrupt {codec} stream: {e.Message}", e);
            }
            catch (IOException e) when (e is not EndOfStreamException)
            {
                throw new P2PDistException($"{layerName}: corrupt or truncated {codec} stream: {e.Message}", e);
            }
        }


        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
