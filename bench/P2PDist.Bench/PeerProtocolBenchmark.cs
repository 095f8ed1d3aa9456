using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace P2PDist.Bench;

/// <summary>
/// Chooses the chunk protocol between peers by measurement: Kestrel serving a chunk over HTTP/1.1 and over
/// HTTP/2 (h2c), fetched with HttpClient on loopback, as the peer does. Reports the median latency of one
/// 256 KiB chunk, fetched one at a time, and the throughput of 8 concurrent 1 MiB fetches, with the CPU
/// time per GiB moved (on 2 cores, CPU is what a swarm of peers on one machine runs out of).
/// </summary>
public static class PeerProtocolBenchmark
{
    public static int Run()
    {
        var small = new byte[256 << 10];
        var large = new byte[1 << 20];
        Random.Shared.NextBytes(small);
        Random.Shared.NextBytes(large);
        int http1Port = FreePort(), http2Port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, http1Port, o => o.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, http2Port, o => o.Protocols = HttpProtocols.Http2);
        });
        using var app = builder.Build();
        app.MapGet("/small", (HttpContext context) => Serve(context, small));
        app.MapGet("/large", (HttpContext context) => Serve(context, large));
        app.StartAsync().GetAwaiter().GetResult();

        Console.WriteLine("| protocol | 256 KiB fetch, median latency | 8 x 1 MiB concurrent, throughput | CPU per GiB moved |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (name, port, version) in new[] { ("HTTP/1.1", http1Port, HttpVersion.Version11), ("HTTP/2 (h2c)", http2Port, HttpVersion.Version20) })
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
            {
                DefaultRequestVersion = version,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            string baseUrl = $"http://127.0.0.1:{port}";
            for (int i = 0; i < 200; i++)
                client.GetByteArrayAsync($"{baseUrl}/small").GetAwaiter().GetResult(); // warm up: JIT, connections
            var latencies = new List<double>();
            for (int i = 0; i < 2000; i++)
            {
                long start = Stopwatch.GetTimestamp();
                client.GetByteArrayAsync($"{baseUrl}/small").GetAwaiter().GetResult();
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
            latencies.Sort();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            long bytes = 0;
            var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (clock.Elapsed < TimeSpan.FromSeconds(4))
                    Interlocked.Add(ref bytes, (await client.GetByteArrayAsync($"{baseUrl}/large")).Length);
            })).ToArray();
            Task.WaitAll(workers);
            double seconds = clock.Elapsed.TotalSeconds;
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            Console.WriteLine($"| {name} | {latencies[latencies.Count / 2]:0} µs | {bytes / seconds / 1e6:0} MB/s | {cpu / (bytes / (double)(1L << 30)):0.00} CPU-s |");
        }
        app.StopAsync().GetAwaiter().GetResult();
        return 0;
    }

    private static async Task Serve(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
