using System.Net;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>
/// "A 1 GiB announcement" (issue 10, review H2): the gRPC frame's length prefix says 1 GiB; the supernode
/// refuses it from the prefix, before it has read or allocated the body, and keeps serving. Sent as raw
/// HTTP/2 so the test does not have to build a 1 GiB message either.
/// </summary>
public sealed class SupernodeMessageSizeTests
{
    [Fact]
    public async Task H2_OneGiBAnnouncement_IsRefusedFromItsLengthPrefix_AndTheSupernodeKeepsServing()
    {
        await using var supernode = await SupernodeProcess.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(60) };
        var body = new EndlessGrpcFrame(declaredBytes: 1 << 30);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{supernode.Address}/p2pdist.scheduler.v1.Scheduler/Announce")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body,
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/grpc");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.ReadAsByteArrayAsync();
        string status = response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.Single()
            : response.Headers.TryGetValues("grpc-status", out var header) ? header.Single() : "none";
        Assert.Equal("8", status); // RESOURCE_EXHAUSTED: received message larger than max
        Assert.True(body.Sent < 64 << 20, $"the supernode read {body.Sent:N0} bytes of a message it had to refuse");

        Assert.Empty(await supernode.HoldersAsync("sha256:" + new string('a', 64), 0)); // still answering
    }

    /// <summary>A gRPC frame header declaring <c>declaredBytes</c>, then zeros until the server stops reading (bounded).</summary>
    private sealed class EndlessGrpcFrame(int declaredBytes) : HttpContent
    {
        public long Sent { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            byte[] prefix = [0, (byte)(declaredBytes >> 24), (byte)(declaredBytes >> 16), (byte)(declaredBytes >> 8), (byte)declaredBytes];
            await stream.WriteAsync(prefix);
            byte[] zeros = new byte[64 << 10];
            try
            {
                while (Sent < declaredBytes)
                {
                    await stream.WriteAsync(zeros);
                    Sent += zeros.Length;
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
            {
                // The server reset the stream: it stopped reading.
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
