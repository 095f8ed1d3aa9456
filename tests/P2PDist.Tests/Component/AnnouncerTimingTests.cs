using Microsoft.Extensions.Logging.Abstractions;
using P2PDist.Peer.P2P;
using P2PDist.Protos.Scheduler;
using P2PDist.Supernode;
using static P2PDist.Tests.Component.InProcessSupernode;

namespace P2PDist.Tests.Component;

/// <summary>
/// The peer's announcer against the in-process supernode, both on one fake clock: changes are batched into
/// one announcement per round, and heartbeats follow the interval the supernode gave at registration.
/// </summary>
public sealed class AnnouncerTimingTests
{
    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _announces;

        public int Announces => Volatile.Read(ref _announces);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/Announce", StringComparison.Ordinal))
                Interlocked.Increment(ref _announces);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Moves the clock one batch and waits (bounded) for the announcer to finish a round.</summary>
    private static async Task StepAsync(InProcessSupernode supernode, Announcer announcer, TimeSpan batch)
    {
        int rounds = announcer.Rounds;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            supernode.Clock.Advance(batch);
            var until = DateTime.UtcNow.AddMilliseconds(200);
            while (DateTime.UtcNow < until)
            {
                if (announcer.Rounds > rounds)
                    return;
                await Task.Yield();
            }
            // The loop had not yet armed its timer when the clock moved: move it again.
        }
        throw new TimeoutException("the announcer made no round in 50 batches");
    }

    [Fact]
    public async Task Announcer_BatchesChangesIntoOneAnnouncement_AndBeatsAtTheIntervalTheSupernodeGave()
    {
        await using var supernode = await StartAsync(new SupernodeOptions { PeerTimeoutSeconds = 3 }); // beats every second
        var counting = new CountingHandler(supernode.Handler);
        using var set = new SupernodeSet(["in-process"], _ => (new Uri("http://localhost"), counting));
        var timings = ProtocolTimings.Default;
        async Task<bool> RegisterAsync(SupernodeSet.Node node)
        {
            var reply = await node.Client.RegisterAsync(new RegisterRequest { PeerId = "peer-1", Address = "127.0.2.1:7710" }, deadline: Deadline());
            timings = timings.FollowSupernode(reply);
            return true;
        }
        using var announcer = new Announcer("peer-1", set, RegisterAsync, () => 0, NullLogger.Instance, () => timings, supernode.Clock);
        await supernode.RegisterAsync("asker", "127.0.2.2:7710");

        for (uint ordinal = 0; ordinal < 10; ordinal++)
            announcer.Added(BlobA, ordinal);
        await StepAsync(supernode, announcer, timings.AnnounceBatch); // unknown: registers, then announces everything held
        Assert.Equal(TimeSpan.FromSeconds(1), timings.HeartbeatInterval);
        Assert.Equal(["peer-1"], await supernode.HolderIdsAsync("asker", BlobA, 9));

        int before = counting.Announces;
        for (uint ordinal = 10; ordinal < 20; ordinal++)
            announcer.Added(BlobA, ordinal);
        Assert.Equal(before, counting.Announces); // nothing goes out before the batch time
        await StepAsync(supernode, announcer, timings.AnnounceBatch);
        Assert.Equal(before + 1, counting.Announces); // ten chunks, one announcement
        Assert.Equal(["peer-1"], await supernode.HolderIdsAsync("asker", BlobA, 19));

        before = counting.Announces;
        for (int step = 1; step <= 60; step++)
        {
            await StepAsync(supernode, announcer, timings.AnnounceBatch);
            if (step % 10 == 0)
                await supernode.AnnounceAsync("asker");
        }
        Assert.InRange(counting.Announces - before, 5, 7); // six seconds at one beat a second, not one beat per 5 s
        Assert.True(supernode.Index.IsKnown("peer-1"), "the peer expired although it beat at the supernode's interval");
    }
}
