using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// The registry client's retry back-off and request deadline on a fake clock (issue 9): a registry that fails
/// is asked again only when the back-off has passed, each wait twice the last, and one that never answers
/// fails the call when its deadline passes, never sooner and never hanging. The registry is a scripted one,
/// since a real registry cannot be made to fail on cue.
/// </summary>
public sealed class RegistryRetryTimingTests
{
    private const string Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    private static RegistryOptions Options(TimeProvider clock, int attempts) => new()
    {
        PlainHttp = true,
        MaxAttempts = attempts,
        FirstRetryDelay = TimeSpan.FromSeconds(1),
        RequestTimeout = TimeSpan.FromSeconds(30),
        DockerConfigFile = "/nonexistent",
        Time = clock,
    };

    private static Task WaitForRequestsAsync(ScriptedHttpServer registry, int count) =>
        Eventually.Async(() => Task.FromResult(registry.Seen.Count >= count), TimeSpan.FromSeconds(20),
            $"request {count} to reach the registry", () => $"{registry.Seen.Count} seen");

    /// <summary>A fake clock that records the due time of every timer armed on it, so a test can wait until a back-off is armed before moving time.</summary>
    private sealed class WatchedClock : FakeTimeProvider
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<TimeSpan> _armed = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _armed.Enqueue(dueTime);
            return base.CreateTimer(callback, state, dueTime, period);
        }

        public Task ArmedAsync(TimeSpan dueTime) => Eventually.Async(() => Task.FromResult(_armed.Contains(dueTime)), TimeSpan.FromSeconds(20),
            $"a {dueTime.TotalSeconds} s wait to be armed", () => "armed: " + string.Join(", ", _armed));
    }

    [Fact]
    public async Task FailingRegistry_IsAskedAgainOnlyAfterEachBackOff_DoublingEachTime()
    {
        int answered = 0;
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback, context =>
        {
            // Two failures, then the blob is there.
            context.Response.StatusCode = Interlocked.Increment(ref answered) <= 2 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        var clock = new WatchedClock();
        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(clock, attempts: 4));

        var exists = client.BlobExistsAsync(Digest, CancellationToken.None);
        await clock.ArmedAsync(TimeSpan.FromSeconds(1)); // the first answer was 503: a 1 s back-off
        Assert.Single(registry.Seen);
        clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Single(registry.Seen);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await clock.ArmedAsync(TimeSpan.FromSeconds(2)); // asked again, 503 again: twice the wait
        Assert.Equal(2, registry.Seen.Count);
        clock.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(2, registry.Seen.Count);
        Assert.False(exists.IsCompleted, "the call ended while the registry was still failing");
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await exists.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(3, registry.Seen.Count);
    }

    [Fact]
    public async Task RegistryThatNeverAnswers_FailsTheCallAtItsDeadline_NamingIt()
    {
        await using var registry = await ScriptedHttpServer.StartAsync(IPAddress.Loopback,
            context => Task.Delay(Timeout.Infinite, context.RequestAborted));
        var clock = new FakeTimeProvider();
        using var client = new RegistryClient(ImageReference.Parse($"{registry.Authority}/app"), Options(clock, attempts: 1));

        var exists = client.BlobExistsAsync(Digest, CancellationToken.None);
        await WaitForRequestsAsync(registry, 1);
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.False(exists.IsCompleted, "the call gave up before its 30 s deadline");
        clock.Advance(TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<RegistryException>(() => exists.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("no answer within 30 s", error.Message);
        Assert.Contains(registry.Authority, error.Message);
    }
}
