using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PDist.Peer.P2P;
using P2PDist.Peer.P2P.Wire;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// The framed chunk protocol on a real peer's chunk port, spoken byte by byte from a raw socket: many chunks on
/// one connection, hostile frames refused by name, and a client that falls back to HTTP for an HTTP-only holder.
/// </summary>
public sealed class FramedChunkProtocolTests
{
    [Fact]
    public async Task OneConnection_CarriesManyChunks_AndAMissingChunkLeavesItUsable()
    {
        var (holder, listen, chunkFiles, dispose) = await HolderWithCachedChunksAsync("framed-many", 3);
        await using var _ = dispose;
        using var socket = await ConnectAsync(listen);
        await using var stream = new NetworkStream(socket);
        await SendAsync(stream, ChunkWire.Preface.ToArray());
        foreach (string file in chunkFiles.Concat(chunkFiles))
        {
            await SendAsync(stream, Request(Path.GetFileName(file)));
            var response = await ReadResponseAsync(stream);
            Assert.Equal(ChunkStatus.Ok, response.Status);
            byte[] expected = await File.ReadAllBytesAsync(file);
            Assert.Equal(expected.Length, response.Length);
            Assert.Equal(expected, await ReadExactlyAsync(stream, (int)response.Length));
        }
        await SendAsync(stream, Request("blake3-" + new string('a', 64)));
        Assert.Equal(ChunkStatus.Missing, (await ReadResponseAsync(stream)).Status);
        await SendAsync(stream, Request(Path.GetFileName(chunkFiles[0])));
        Assert.Equal(ChunkStatus.Ok, (await ReadResponseAsync(stream)).Status); // same connection, after the miss
        Assert.Equal(await File.ReadAllBytesAsync(chunkFiles[0]), await ReadExactlyAsync(stream, (int)new FileInfo(chunkFiles[0]).Length));
        string metrics = await MetricsScrape.TextAsync(holder.MetricsAddress!);
        Assert.Equal(7, MetricsScrape.Value(metrics, "p2pdist_peer_uploaded_chunks_total"));
    }

    [Fact]
    public async Task IdleFramedConnection_DoesNotHoldUpTheHoldersStop()
    {
        var (holder, listen, chunkFiles, dispose) = await HolderWithCachedChunksAsync("framed-stop", 1);
        await using var _ = dispose;
        using var socket = await ConnectAsync(listen);
        await using var stream = new NetworkStream(socket);
        await SendAsync(stream, [.. ChunkWire.Preface.ToArray(), .. Request(Path.GetFileName(chunkFiles[0]))]);
        var response = await ReadResponseAsync(stream);
        await ReadExactlyAsync(stream, (int)response.Length);

        // The connection now idles, as a neighbour's pooled one does. SIGTERM must not wait for it to go away.
        await holder.StopAsync();
        Assert.Equal(0, holder.ExitCode); // exited by itself, not killed by the fixture after 20 s
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await stream.ReadAsync(new byte[1], deadline.Token)); // and closed the connection
    }

    [Theory]
    [InlineData("oversized", "request frame of 2147483647 bytes")]
    [InlineData("path", "chunk name must be")]
    [InlineData("not-msgpack", "not valid MessagePack")]
    public async Task HostileRequest_IsAnsweredBadRequestByName_AndTheConnectionClosed(string attack, string named)
    {
        var (_, listen, _, dispose) = await HolderWithCachedChunksAsync("framed-hostile-" + attack, 1);
        await using var __ = dispose;
        using var socket = await ConnectAsync(listen);
        await using var stream = new NetworkStream(socket);
        byte[] frame = attack switch
        {
            "oversized" => [0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3],
            "path" => Request("../../../../etc/shadow"),
            _ => [0, 0, 0, 3, 0xC1, 0xC1, 0xC1], // 0xC1 is never used in MessagePack
        };
        await SendAsync(stream, [.. ChunkWire.Preface.ToArray(), .. frame]);
        var response = await ReadResponseAsync(stream);
        Assert.Equal(ChunkStatus.BadRequest, response.Status);
        Assert.Contains(named, response.Detail);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await stream.ReadAsync(new byte[1], deadline.Token)); // closed by the holder
    }

    [Fact]
    public async Task HolderThatSpeaksOnlyHttp_IsFetchedFromOverHttp()
    {
        byte[] chunk = SampleImages.Bytes(100_000, 171);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int framedAttempts = 0, httpRequests = 0;
        var serving = Task.Run(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                using var socket = await listener.AcceptSocketAsync();
                byte[] buffer = new byte[4096];
                int filled = await socket.ReceiveAsync(buffer);
                if (buffer.AsSpan(0, filled).StartsWith(ChunkWire.Preface))
                {
                    Interlocked.Increment(ref framedAttempts);
                    await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
                    continue;
                }
                Interlocked.Increment(ref httpRequests);
                await socket.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {chunk.Length}\r\nConnection: close\r\n\r\n"));
                await socket.SendAsync(chunk);
            }
        });
        using var client = new PeerChunkClient(IPAddress.Loopback, TimeSpan.FromSeconds(5), protocol: PeerProtocol.Framed);
        var result = await client.GetAsync(listener.LocalEndpoint.ToString()!, "old-peer", "blake3-" + new string('b', 64), (uint)chunk.Length, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(PeerChunkClient.Outcome.Received, result.Outcome);
        Assert.Equal(chunk, result.Bytes);
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((1, 1), (framedAttempts, httpRequests));
    }

    [Fact]
    public void Frames_RoundTrip_AndBrokenResponsesAreRefusedByName()
    {
        var output = new ArrayBufferWriter<byte>();
        ChunkWire.WriteRequest(output, "sha256-" + new string('c', 64), preface: false);
        var sequence = new ReadOnlySequence<byte>(output.WrittenMemory);
        Assert.True(ChunkWire.TryReadRequest(ref sequence, out string name));
        Assert.Equal("sha256-" + new string('c', 64), name);
        Assert.True(sequence.IsEmpty);

        var partial = new ReadOnlySequence<byte>(output.WrittenMemory[..^1]);
        Assert.False(ChunkWire.TryReadRequest(ref partial, out _)); // not whole yet: wait for more, do not fail

        var responses = new ArrayBufferWriter<byte>();
        ChunkWire.WriteResponse(responses, ChunkStatus.Ok, 1 << 20, "");
        var response = new ReadOnlySequence<byte>(responses.WrittenMemory);
        Assert.True(ChunkWire.TryReadResponse(ref response, out var parsed));
        Assert.Equal(new ChunkResponse(ChunkStatus.Ok, 1 << 20, ""), parsed);

        var huge = new ReadOnlySequence<byte>(new byte[] { 0, 1, 0, 0, 0 });
        Assert.Contains("response frame of 65536 bytes", Assert.Throws<ChunkWireException>(() => ChunkWire.TryReadResponse(ref huge, out _)).Message);
        var busyWithBody = new ArrayBufferWriter<byte>();
        ChunkWire.WriteResponse(busyWithBody, ChunkStatus.Busy, 5, "");
        var busy = new ReadOnlySequence<byte>(busyWithBody.WrittenMemory);
        Assert.Contains("length 5 is not valid for status Busy", Assert.Throws<ChunkWireException>(() => ChunkWire.TryReadResponse(ref busy, out _)).Message);
    }

    private static async Task<(PeerProcess Holder, string Listen, string[] ChunkFiles, IAsyncDisposable Dispose)> HolderWithCachedChunksAsync(string name, int chunks)
    {
        var server = await RegistryServer.StartAsync();
        byte[] content = SampleImages.Bytes(chunks << 20, 170 + chunks);
        string target = await new TestImage().Layer(w => w.File("data.bin", content)).PushAndConvertAsync(server.Host, name);
        string listen = $"127.0.2.60:{FreePort.Next()}";
        var holder = await PeerProcess.StartAsync(null, "--listen", listen);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(await holder.MountAsync(target), "data.bin")));
        string[] files = Directory.EnumerateFiles(Path.Combine(holder.DataDir, "cache", "chunks"), "*", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(chunks, files.Length);
        return (holder, listen, files, new Both(holder, server));
    }

    private sealed class Both(IAsyncDisposable first, IAsyncDisposable second) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
        }
    }

    private static async Task<Socket> ConnectAsync(string listen)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(IPEndPoint.Parse(listen), deadline.Token);
        return socket;
    }

    private static byte[] Request(string chunkName)
    {
        var output = new ArrayBufferWriter<byte>();
        ChunkWire.WriteRequest(output, chunkName, preface: false);
        return output.WrittenSpan.ToArray();
    }

    private static async Task SendAsync(Stream stream, byte[] bytes)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await stream.WriteAsync(bytes, deadline.Token);
    }

    private static async Task<ChunkResponse> ReadResponseAsync(Stream stream)
    {
        byte[] prefix = await ReadExactlyAsync(stream, 4);
        int length = BinaryPrimitives.ReadInt32BigEndian(prefix);
        Assert.InRange(length, 1, ChunkWire.MaxResponseFrame);
        var sequence = new ReadOnlySequence<byte>([.. prefix, .. await ReadExactlyAsync(stream, length)]);
        Assert.True(ChunkWire.TryReadResponse(ref sequence, out var response));
        return response;
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        byte[] bytes = new byte[count];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await stream.ReadExactlyAsync(bytes, deadline.Token);
        return bytes;
    }
}
