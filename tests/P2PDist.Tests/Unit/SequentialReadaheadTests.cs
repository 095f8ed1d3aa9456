using P2PDist.Peer.FileSystem;

namespace P2PDist.Tests.Unit;

public sealed class SequentialReadaheadTests
{
    private const int Initial = 128 << 10, Max = 2 << 20, Read = 128 << 10;

    [Fact]
    public void ARandomRead_GetsNoWindow()
    {
        var readahead = new SequentialReadahead(Initial, Max);
        Assert.Equal(0, readahead.WindowFor(7, 5_000_000, Read));
        Assert.Equal(0, readahead.WindowFor(7, 1_000_000, Read)); // backwards: still random
    }

    [Fact]
    public void ReadsThatContinueEachOther_DoubleTheWindow_UpToTheMax_AndAJumpResetsIt()
    {
        var readahead = new SequentialReadahead(Initial, Max);
        var windows = Enumerable.Range(0, 7).Select(i => readahead.WindowFor(3, (ulong)(i * Read), Read)).ToArray();
        Assert.Equal([0, Initial, 2 * Initial, 4 * Initial, 8 * Initial, Max, Max], windows);
        Assert.Equal(0, readahead.WindowFor(3, 50 << 20, Read));
        Assert.Equal(Initial, readahead.WindowFor(3, (50 << 20) + Read, Read));
    }

    [Fact]
    public void FilesAreTrackedApart()
    {
        var readahead = new SequentialReadahead(Initial, Max);
        readahead.WindowFor(1, 0, Read);
        readahead.WindowFor(2, 0, Read);
        Assert.Equal(Initial, readahead.WindowFor(1, Read, Read));
        Assert.Equal(Initial, readahead.WindowFor(2, Read, Read));
    }

    [Fact]
    public void MergingOff_MeansNoWindowEver()
    {
        var readahead = new SequentialReadahead(Initial, 0);
        readahead.WindowFor(1, 0, Read);
        Assert.Equal(0, readahead.WindowFor(1, Read, Read));
    }

    [Fact]
    public void TheTableIsBounded_AndStartingOverOnlyCostsAWindow()
    {
        var readahead = new SequentialReadahead(Initial, Max);
        for (uint ino = 1; ino <= SequentialReadahead.MaxTrackedFiles + 10; ino++)
            readahead.WindowFor(ino, 0, Read);
        Assert.True(readahead.TrackedFiles <= SequentialReadahead.MaxTrackedFiles, $"{readahead.TrackedFiles} files tracked");
        uint last = SequentialReadahead.MaxTrackedFiles + 10;
        Assert.Equal(Initial, readahead.WindowFor(last, Read, Read));
    }
}
