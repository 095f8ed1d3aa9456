using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using P2PDist.Peer.Cache;
using P2PDist.Peer.Fetch;
using P2PDist.Rafs;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Component;

/// <summary>
/// Review H4 and H5 in-process: a fetch that throws, hangs, trickles or lies never leaves a chunk unreadable;
/// each fault is injected by a fake source, and a legitimate read afterwards gets the right bytes.
/// </summary>
public sealed class ChunkProviderFaultTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private readonly InProcessImage _image = InProcessImage.Build(fileCount: 2, chunksPerFile: 4, seed: 700);
    private readonly ChunkCache _cache = new(TestPaths.NewDirectory("provider-faults"));
    private readonly List<string> _log = [];
    private readonly FakeOrigin _origin;

    public ChunkProviderFaultTests() => _origin = new FakeOrigin(_image.Blob);

    private ChunkProvider Provider(IPeerChunkSource? peers = null, TimeProvider? time = null, int mergeBytes = 0) =>
        new(_image.Bootstrap, _cache, _origin, mergeBytes, message => { lock (_log) _log.Add(message); }, peers, time);

    /// <param name="readaheadBytes">What a sequential reader's readahead asks the miss to bring along.</param>
    private async Task<byte[]> ReadChunkAsync(ChunkProvider provider, uint chunkIndex, int readaheadBytes = 0)
    {
        var buffer = new byte[InProcessImage.ChunkSize];
        await provider.CopyAsync(chunkIndex, 0, buffer, readaheadBytes, CancellationToken.None).AsTask().WaitAsync(Bound);
        return buffer;
    }

    [Fact]
    public async Task H4_ChunkFetchThrowsMidFlight_EveryWaiterGetsTheError_ThenASuccessfulRead()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _origin.Fault = async (call, _) =>
        {
            if (call > 1)
                return;
            entered.SetResult();
            await release.Task;
            throw new InvalidOperationException("injected: not an IOException, the kind that used to escape");
        };
        using var provider = Provider();
        var readers = Enumerable.Range(0, 3).Select(_ => ReadChunkAsync(provider, 1)).ToList();
        await entered.Task.WaitAsync(Bound);
        Assert.Equal(1, provider.FetchesInFlight);
        release.SetResult();
        foreach (var reader in readers)
            await Assert.ThrowsAsync<InvalidOperationException>(() => reader);
        Assert.Equal(0, provider.FetchesInFlight);

        Assert.Equal(_image.ChunkBytes(1), await ReadChunkAsync(provider, 1));
        Assert.Equal(2, _origin.Calls);
    }

    public static TheoryData<string> PeerFailures => ["cancelled", "rpc-cancelled", "rpc-resource-exhausted", "other"];

    [Theory]
    [MemberData(nameof(PeerFailures))]
    public async Task H4_PeerPhaseThrows_IsNoPeer_AndTheOriginServes(string failure)
    {
        var peers = new FakePeers
        {
            Fetch = (_, _, _) => throw (failure switch
            {
                "cancelled" => new OperationCanceledException("injected"),
                "rpc-cancelled" => new RpcException(new Status(StatusCode.Cancelled, "injected")),
                "rpc-resource-exhausted" => new RpcException(new Status(StatusCode.ResourceExhausted, "injected")),
                _ => (Exception)new FormatException("injected: a malformed holder address"),
            }),
        };
        using var provider = Provider(peers);
        Assert.Equal(_image.ChunkBytes(2), await ReadChunkAsync(provider, 2));
        Assert.Equal(1, _origin.Calls);
        Assert.True(_cache.Contains(_image.Bootstrap.GetChunk(2).Digest));
        Assert.Equal(0, provider.FetchesInFlight);
    }

    [Fact]
    public async Task H4_PeerTrickles_TheTotalDeadlineFromItsSizeEndsIt_AndTheOriginServes()
    {
        var time = new FakeTimeProvider();
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A holder that keeps the transfer alive forever and ignores cancellation: only a total deadline ends it.
        var peers = new FakePeers { Fetch = (_, _, _) => { asked.TrySetResult(); return new TaskCompletionSource<PeerChunk?>().Task; } };
        using var provider = Provider(peers, time);
        var read = ReadChunkAsync(provider, 3);
        await asked.Task.WaitAsync(Bound);
        var budget = PeerFetchBudget.For(InProcessImage.ChunkSize, background: false);
        time.Advance(budget - TimeSpan.FromSeconds(1));
        Assert.False(read.IsCompleted, "the peer phase ended before its deadline");
        Assert.Equal(0, _origin.Calls);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(_image.ChunkBytes(3), await read);
        Assert.Equal(1, _origin.Calls);
        Assert.True(PeerFetchBudget.For(16 << 20, false) > budget, "the deadline grows with the chunk's size");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task H4_VerificationFailureFromAPeer_FallsBackToTheOrigin_AndTheReaderGetsCorrectBytes(bool wrongLength)
    {
        var peers = new FakePeers
        {
            Fetch = (_, chunk, _) => Task.FromResult<PeerChunk?>(new PeerChunk(SampleImages.Bytes((int)chunk.UncompressedSize - (wrongLength ? 1 : 0), 9), "liar")),
        };
        using var provider = Provider(peers);
        Assert.Equal(_image.ChunkBytes(4), await ReadChunkAsync(provider, 4));
        Assert.Equal(1, _origin.Calls);
        Assert.Equal(1, provider.DigestFailures);
        Assert.Single(peers.Rejections);
        Assert.Equal(_image.ChunkBytes(4), await ReadChunkAsync(provider, 4)); // from the cache: the lie was never stored
        Assert.Equal(1, _origin.Calls);
    }

    [Fact]
    public async Task H4_ClaimThrows_TheFirstChunkIsFetchedAlone_AndServed()
    {
        var peers = new FakePeers { Claim = (_, _) => throw new RpcException(new Status(StatusCode.PermissionDenied, "injected")) };
        using var provider = Provider(peers, mergeBytes: 4 * (int)InProcessImage.ChunkSize);
        Assert.Equal(_image.ChunkBytes(0), await ReadChunkAsync(provider, 0, readaheadBytes: 3 * (int)InProcessImage.ChunkSize));
        Assert.Equal(1, peers.ClaimCalls);
        Assert.False(_cache.Contains(_image.Bootstrap.GetChunk(1).Digest), "only the first chunk of the run was granted");
        Assert.Equal(_image.ChunkBytes(1), await ReadChunkAsync(provider, 1));
    }

    [Fact]
    public async Task H4_LeaseRenewalThrows_TheOriginFetchGoesOn_AndServes()
    {
        var time = new FakeTimeProvider();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _origin.Fault = async (_, _) => { entered.TrySetResult(); await release.Task; };
        var peers = new FakePeers
        {
            Claim = (chunks, _) =>
            {
                if (chunks.Count == 1) // the renewal (the claim of a one-chunk run is not asked)
                {
                    renewed.TrySetResult();
                    throw new InvalidOperationException("injected: a renewal that fails oddly");
                }
                return Task.FromResult(chunks.Count);
            },
        };
        using var provider = Provider(peers, time);
        var read = ReadChunkAsync(provider, 5);
        await entered.Task.WaitAsync(Bound);
        time.Advance(TimeSpan.FromSeconds(2));
        await renewed.Task.WaitAsync(Bound);
        release.SetResult();
        Assert.Equal(_image.ChunkBytes(5), await read);
        Assert.Equal(0, provider.FetchesInFlight);
    }

    [Fact]
    public async Task H4_StoredCallbackThrows_WaitersGetTheError_AndTheNextReadIsServed()
    {
        int calls = 0;
        var peers = new FakePeers { OnStored = _ => { if (Interlocked.Increment(ref calls) == 1) throw new InvalidOperationException("injected: announcing failed"); } };
        using var provider = Provider(peers);
        await Assert.ThrowsAsync<InvalidOperationException>(() => ReadChunkAsync(provider, 6));
        Assert.Equal(0, provider.FetchesInFlight);
        Assert.Equal(_image.ChunkBytes(6), await ReadChunkAsync(provider, 6));
    }

    [Fact]
    public async Task H5_Shutdown_EndsAFetchThatIgnoresItsToken_RefusesNewOnes_AndDrains()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var provider = Provider();
        Assert.Equal(_image.ChunkBytes(0), await ReadChunkAsync(provider, 0)); // cached before the mount closes
        _origin.Fault = (_, _) => { entered.TrySetResult(); return new TaskCompletionSource().Task; }; // a stalled origin, deaf to cancellation
        var stuck = ReadChunkAsync(provider, 7);
        await entered.Task.WaitAsync(Bound);

        provider.Shutdown();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stuck);
        await provider.DrainAsync().WaitAsync(Bound);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ReadChunkAsync(provider, 6));
        Assert.Equal(_image.ChunkBytes(0), await ReadChunkAsync(provider, 0)); // workers still finishing get cached bytes
        Assert.Equal(0, provider.FetchesInFlight);
    }

    public void Dispose() => _image.Dispose();
}
