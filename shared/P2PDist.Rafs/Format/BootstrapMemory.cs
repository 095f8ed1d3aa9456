using System.IO.MemoryMappedFiles;

namespace P2PDist.Rafs;

/// <summary>
/// The bytes of a bootstrap, either mapped from a file (the normal case: opening costs no decode and the page
/// cache holds the data) or held in an array (tests, freshly written bootstraps).
/// </summary>
public abstract class BootstrapMemory : IDisposable
{
    /// <summary>Bootstraps are capped at 2 GiB so that one span covers the whole file.</summary>
    public const long MaxLength = int.MaxValue;

    public abstract ReadOnlySpan<byte> Bytes { get; }

    public static BootstrapMemory FromArray(byte[] bytes) => new ArrayBootstrapMemory(bytes);

    public static BootstrapMemory MapFile(string path) => new MappedBootstrapMemory(path);

    public abstract void Dispose();
}

internal sealed class ArrayBootstrapMemory(byte[] bytes) : BootstrapMemory
{
    public override ReadOnlySpan<byte> Bytes => bytes;

    public override void Dispose() { }
}

internal sealed unsafe class MappedBootstrapMemory : BootstrapMemory
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _pointer;
    private readonly int _length;

    public MappedBootstrapMemory(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaxLength)
            throw new RafsFormatException(0, $"bootstrap {path} is {length} bytes, larger than the 2 GiB limit");
        _length = (int)length;
        if (_length == 0)
            return; // an empty file cannot be mapped; the header check reports it as truncated
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _pointer = pointer + _view.PointerOffset;
    }

    public override ReadOnlySpan<byte> Bytes => _length == 0 ? default : new ReadOnlySpan<byte>(_pointer, _length);

    public override void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _file?.Dispose();
    }
}
