using Microsoft.Extensions.Time.Testing;
using P2PDist.Peer.P2P;

namespace P2PDist.Tests.Unit;

/// <summary>
/// The per-upload budget of review finding M3: spent only while a write is pending, and able to tell a client
/// that used it up from one that went away (Kestrel aborts the connection on a cancelled write, so both look
/// aborted by the time the write throws; a cut-off counted as "went away" kept the cut-off metric short).
/// </summary>
public sealed class UploadDeadlineTests
{
    [Fact]
    public void TimeOutsideWrites_IsNotCharged()
    {
        var clock = new FakeTimeProvider();
        using var deadline = new UploadDeadline(TimeSpan.FromSeconds(2), CancellationToken.None, clock);
        for (int i = 0; i < 3; i++)
        {
            using (deadline.Running())
                clock.Advance(TimeSpan.FromMilliseconds(600));
            clock.Advance(TimeSpan.FromMinutes(1)); // pacing to our own rate, or reading the file
        }
        Assert.False(deadline.Token.IsCancellationRequested, "1.8 s of pending writes used up a budget of 2 s");
        using (deadline.Running())
            clock.Advance(TimeSpan.FromMilliseconds(250));
        Assert.True(deadline.Token.IsCancellationRequested, "2.05 s of pending writes did not use up a budget of 2 s");
        Assert.True(deadline.Expired);
    }

    [Fact]
    public void ExpiredBudget_StaysExpired_EvenAfterTheRequestIsAborted()
    {
        var clock = new FakeTimeProvider();
        using var aborted = new CancellationTokenSource();
        using var deadline = new UploadDeadline(TimeSpan.FromSeconds(1), aborted.Token, clock);
        using (deadline.Running())
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            aborted.Cancel(); // what Kestrel does to the connection when the pending write is cancelled
        }
        Assert.True(deadline.Expired, "a client that used up its budget was taken for one that went away");
        using (deadline.Running())
            Assert.True(deadline.Token.IsCancellationRequested, "a spent budget let another write start");
    }

    [Fact]
    public void ClientGoingAway_IsNotACutOff()
    {
        var clock = new FakeTimeProvider();
        using var aborted = new CancellationTokenSource();
        using var deadline = new UploadDeadline(TimeSpan.FromSeconds(10), aborted.Token, clock);
        using (deadline.Running())
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            aborted.Cancel();
        }
        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.False(deadline.Expired);
    }
}
