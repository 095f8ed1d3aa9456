using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using P2PDist.Security;

namespace P2PDist.Bench;

/// <summary>
/// Where mutual TLS between peers costs CPU, with the cluster's own certificates and settings (P-256 keys, the
/// cluster CA as the only root): the CPU of one full handshake (both ends, certificate checks included), with
/// and without TLS session resumption, and the CPU per GiB of bulk transfer over one connection against plain
/// TCP, in 64 KiB writes as the chunk server makes them. Both ends run in this process on loopback.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class TlsCostBenchmark
{
    private const int Handshakes = 300;
    private const long BulkBytes = 1L << 30;

    public static int Run()
    {
        string dir = Directory.CreateTempSubdirectory("p2pdist-tls-bench").FullName;
        try
        {
            ClusterCertificates.InitCa(dir);
            ClusterCertificates.Issue(dir, new ClusterIdentity(ClusterRole.Peer, "server"), [IPAddress.Loopback], [], dir, TimeSpan.FromDays(1));
            ClusterCertificates.Issue(dir, new ClusterIdentity(ClusterRole.Peer, "client"), [IPAddress.Loopback], [], dir, TimeSpan.FromDays(1));
            string ca = Path.Combine(dir, ClusterCertificates.CaCertificateFile);
            using var server = ClusterTls.Load(Path.Combine(dir, "server.crt"), Path.Combine(dir, "server.key"), ca, ClusterRole.Peer);
            using var client = ClusterTls.Load(Path.Combine(dir, "client.crt"), Path.Combine(dir, "client.key"), ca, ClusterRole.Peer);
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var endpoint = (IPEndPoint)listener.LocalEndpoint;

            Console.WriteLine("| what | CPU (both ends) |");
            Console.WriteLine("|---|---|");
            foreach (bool resume in new[] { false, true })
            {
                Handshake(listener, endpoint, server, client, resume, 20); // warm up
                var cpu = Cpu();
                Handshake(listener, endpoint, server, client, resume, Handshakes);
                Console.WriteLine($"| one handshake, {(resume ? "session resumed (TargetHost set)" : "full (no TargetHost, as peers dial today)")} | {(Cpu() - cpu).TotalMilliseconds / Handshakes:0.00} ms |");
            }
            foreach (bool tls in new[] { false, true })
            {
                Bulk(listener, endpoint, server, client, tls, 64L << 20); // warm up
                var cpu = Cpu();
                Bulk(listener, endpoint, server, client, tls, BulkBytes);
                Console.WriteLine($"| 1 GiB over one connection, {(tls ? "mutual TLS" : "plain TCP")} | {(Cpu() - cpu).TotalSeconds:0.00} s |");
            }
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static SslServerAuthenticationOptions ServerOptions(ClusterTls server)
    {
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = server.Certificate,
            EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => server.Check(certificate, ClusterRole.Peer, null, out _) is not null,
        };
        server.ApplyServerPolicy(options, ClusterRole.Peer);
        return options;
    }

    private static void Handshake(TcpListener listener, IPEndPoint endpoint, ClusterTls server, ClusterTls client, bool resume, int count)
    {
        for (int i = 0; i < count; i++)
        {
            using var dialled = new TcpClient();
            dialled.Connect(endpoint);
            using var accepted = listener.AcceptTcpClient();
            using var serverSide = new SslStream(accepted.GetStream());
            using var clientSide = new SslStream(dialled.GetStream());
            var options = client.ClientOptions(ClusterRole.Peer, "server", checkHostName: false);
            if (resume)
                options.TargetHost = "server";
            var serving = serverSide.AuthenticateAsServerAsync(ServerOptions(server));
            clientSide.AuthenticateAsClientAsync(options).GetAwaiter().GetResult();
            serving.GetAwaiter().GetResult();
            // TLS 1.3 sends its session tickets after the handshake: read them, as a real exchange would.
            clientSide.Write([1]);
            serverSide.ReadExactly(new byte[1]);
            serverSide.Write([1]);
            clientSide.ReadExactly(new byte[1]);
        }
    }

    private static void Bulk(TcpListener listener, IPEndPoint endpoint, ClusterTls server, ClusterTls client, bool tls, long bytes)
    {
        using var dialled = new TcpClient { NoDelay = true };
        dialled.Connect(endpoint);
        using var accepted = listener.AcceptTcpClient();
        Stream sender = accepted.GetStream(), receiver = dialled.GetStream();
        if (tls)
        {
            var serverSide = new SslStream(sender);
            var clientSide = new SslStream(receiver);
            var serving = serverSide.AuthenticateAsServerAsync(ServerOptions(server));
            clientSide.AuthenticateAsClientAsync(client.ClientOptions(ClusterRole.Peer, "server", checkHostName: false)).GetAwaiter().GetResult();
            serving.GetAwaiter().GetResult();
            (sender, receiver) = (serverSide, clientSide);
        }
        var sending = Task.Run(() =>
        {
            var piece = new byte[64 << 10];
            Random.Shared.NextBytes(piece);
            for (long sent = 0; sent < bytes; sent += piece.Length)
                sender.Write(piece);
            sender.Flush();
        });
        var buffer = new byte[64 << 10];
        for (long received = 0; received < bytes;)
        {
            int read = receiver.Read(buffer);
            if (read == 0)
                throw new IOException("connection closed early");
            received += read;
        }
        sending.GetAwaiter().GetResult();
        sender.Dispose();
        receiver.Dispose();
    }
}
