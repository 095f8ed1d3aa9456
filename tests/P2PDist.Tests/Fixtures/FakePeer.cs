using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PDist.Protos.Scheduler;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// A misbehaving peer for fault tests: registers with a supernode, claims to hold every chunk of a blob, and
/// answers chunk requests (framed or HTTP/1.1, as asked) with a full length and only the first bytes, then either stalls (keeps the
/// connection open, silent) or drops the connection.
/// </summary>
public sealed class FakePeer : IAsyncDisposable
{
    public enum Behaviour { StallMidTransfer, DropMidTransfer }

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _requests;

    private FakePeer(IPAddress address, Behaviour behaviour)
    {
        _listener = new TcpListener(address, 0);
        _listener.Start();
        _accepting = Task.Run(() => AcceptAsync(behaviour));
    }

    public string Address => _listener.LocalEndpoint.ToString()!;
    public string PeerId { get; } = $"fake-{Guid.NewGuid():N}";
    public int Requests => Volatile.Read(ref _requests);

    public static async Task<FakePeer> StartAsync(string supernode, IPAddress address, Behaviour behaviour, string blob, uint chunkCount)
    {
        var fake = new FakePeer(address, behaviour);
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{supernode}");
        var client = new Scheduler.SchedulerClient(channel);
        await client.RegisterAsync(new RegisterRequest { PeerId = fake.PeerId, Address = fake.Address }, deadline: DateTime.UtcNow.AddSeconds(5));
        await client.AnnounceAsync(new AnnounceRequest { PeerId = fake.PeerId, Added = { new OrdinalRanges { BlobDigest = blob, Starts = { 0 }, Lengths = { chunkCount } } } },
            deadline: DateTime.UtcNow.AddSeconds(5));
        return fake;
    }

    private async Task AcceptAsync(Behaviour behaviour)
    {
        var connections = new List<Task>();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                connections.Add(ServeAsync(socket, behaviour));
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
    }

    private async Task ServeAsync(Socket socket, Behaviour behaviour)
    {
        using var _ = socket;
        var buffer = new byte[8192];
        int filled = 0;
        try
        {
            // Either protocol of a real chunk port: the framed one (preface, then a request frame) or HTTP/1.1.
            bool isFramed;
            while (!RequestComplete(buffer.AsSpan(0, filled), out isFramed))
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(filled), _stop.Token);
                if (read == 0)
                    return;
                filled += read;
            }
            Interlocked.Increment(ref _requests);
            // Promise a megabyte, send a kilobyte.
            if (isFramed)
            {
                var header = new System.Buffers.ArrayBufferWriter<byte>();
                P2PDist.Peer.P2P.Wire.ChunkWire.WriteResponse(header, P2PDist.Peer.P2P.Wire.ChunkStatus.Ok, 1 << 20, "");
                await socket.SendAsync(header.WrittenMemory, _stop.Token);
            }
            else
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"), _stop.Token);
            }
            await socket.SendAsync(new byte[1024], _stop.Token);
            if (behaviour == Behaviour.StallMidTransfer)
                await new TaskCompletionSource().Task.WaitAsync(_stop.Token); // silent, connection open, until the fake is stopped
            // DropMidTransfer: the using closes the connection here.
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            // Stopped, or the client gave up.
        }
    }

    /// <summary>Whether <paramref name="received"/> holds a whole request: the framed preface and one frame, or HTTP headers.</summary>
    private static bool RequestComplete(ReadOnlySpan<byte> received, out bool framed)
    {
        var preface = P2PDist.Peer.P2P.Wire.ChunkWire.Preface;
        framed = received.Length >= preface.Length && received[..preface.Length].SequenceEqual(preface);
        if (framed)
        {
            var frame = received[preface.Length..];
            return frame.Length >= 4 && frame.Length >= 4 + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(frame);
        }
        return Encoding.ASCII.GetString(received).Contains("\r\n\r\n", StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
