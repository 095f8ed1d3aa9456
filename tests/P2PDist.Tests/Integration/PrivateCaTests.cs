using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using P2PDist.Oci;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Integration;

/// <summary>Review L8: a private CA's chain is built with the server's intermediates, and only serverAuth leaves pass.</summary>
public sealed class PrivateCaTests
{
    /// <summary>A one-shot TLS server on 127.0.0.1 presenting <paramref name="leaf"/> (and <paramref name="intermediates"/>); returns whether the client accepted it.</summary>
    private static async Task<bool> HandshakeAsync(string caPath, X509Certificate2 leaf, X509Certificate2[] intermediates)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverSide = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(deadline.Token);
            await using var tls = new SslStream(socket.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(intermediates), offline: true),
                }, deadline.Token);
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                // The client refused the certificate: its side reports that.
            }
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, deadline.Token);
        await using var stream = new SslStream(client.GetStream());
        var options = PrivateCa.ClientOptions(caPath);
        options.TargetHost = "127.0.0.1";
        bool accepted;
        try
        {
            await stream.AuthenticateAsClientAsync(options, deadline.Token);
            accepted = true;
        }
        catch (AuthenticationException)
        {
            accepted = false;
        }
        client.Close();
        await serverSide.WaitAsync(deadline.Token);
        return accepted;
    }

    [Fact]
    public async Task L8_ServerCertificateIssuedByAnIntermediate_IsTrustedThroughTheIntermediateTheServerSent()
    {
        using var certificates = IntermediateCertificates.Create(TestPaths.NewDirectory("l8"));
        Assert.True(await HandshakeAsync(certificates.CaPath, certificates.Server, [certificates.Intermediate]));
    }

    [Fact]
    public async Task L8_ServerCertificateWithoutItsIntermediate_IsRefused()
    {
        using var certificates = IntermediateCertificates.Create(TestPaths.NewDirectory("l8"));
        Assert.False(await HandshakeAsync(certificates.CaPath, certificates.Server, []));
    }

    [Fact]
    public async Task L8_CertificateWithoutTheServerAuthUsage_IsRefused()
    {
        using var certificates = IntermediateCertificates.Create(TestPaths.NewDirectory("l8"));
        Assert.False(await HandshakeAsync(certificates.CaPath, certificates.ClientOnly, []));
    }
}
