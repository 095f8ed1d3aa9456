using System.Net;
using P2PDist.Rafs;
using P2PDist.Security;
using P2PDist.Tests.Fixtures;

namespace P2PDist.Tests.Unit;

/// <summary>Cluster certificate names, their URI form, issuing and judging certificates (issue 10).</summary>
public sealed class MutualTlsIdentityTests
{
    [Theory]
    [InlineData("node-1")]
    [InlineData("a")]
    [InlineData("Peer_7.eu-west-1a")]
    public void ValidateName_SafeNames_AreAccepted(string name) => Assert.Equal(name, ClusterIdentity.ValidateName(name, "--peer"));

    [Theory]
    [InlineData("")]
    [InlineData("../etc")]
    [InlineData("-dash")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("tab\there")]
    [InlineData("esc\u001b[31m")]
    [InlineData("ünicode")]
    public void ValidateName_UnsafeNames_AreRefusedNamingTheFlag(string name)
    {
        var error = Assert.Throws<P2PDistException>(() => ClusterIdentity.ValidateName(name, "--peer"));
        Assert.StartsWith("--peer:", error.Message);
    }

    [Fact]
    public void ValidateName_TooLong_IsRefused() =>
        Assert.Throws<P2PDistException>(() => ClusterIdentity.ValidateName(new string('a', ClusterIdentity.MaxNameLength + 1), "--peer"));

    [Theory]
    [InlineData("p2pdist://peer/node-1", ClusterRole.Peer, "node-1")]
    [InlineData("p2pdist://supernode/sn.1", ClusterRole.Supernode, "sn.1")]
    public void TryParseUri_ClusterUris_GiveRoleAndName(string uri, ClusterRole role, string name) =>
        Assert.Equal(new ClusterIdentity(role, name), ClusterIdentity.TryParseUri(uri));

    [Theory]
    [InlineData("https://peer/node-1")]
    [InlineData("p2pdist://admin/node-1")]
    [InlineData("p2pdist://peer/")]
    [InlineData("p2pdist://peer/a/b")]
    [InlineData("p2pdist://peer")]
    public void TryParseUri_OtherUris_AreNotIdentities(string uri) => Assert.Null(ClusterIdentity.TryParseUri(uri));

    [Fact]
    public void IssuedCertificates_CarryTheirIdentity_AndAreJudgedByRoleNameAndCa()
    {
        string dir = TestPaths.NewDirectory("pki-unit");
        ClusterCertificates.InitCa(Path.Combine(dir, "ca"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca", "ca.key")));
        Assert.Throws<P2PDistException>(() => ClusterCertificates.InitCa(Path.Combine(dir, "ca"))); // never overwritten
        var (peerCert, peerKey) = ClusterCertificates.Issue(Path.Combine(dir, "ca"), new ClusterIdentity(ClusterRole.Peer, "alice"), [], [], Path.Combine(dir, "alice"), TimeSpan.FromDays(1));
        var (snCert, snKey) = ClusterCertificates.Issue(Path.Combine(dir, "ca"), new ClusterIdentity(ClusterRole.Supernode, "sn"), [IPAddress.Loopback], [], Path.Combine(dir, "sn"), TimeSpan.FromDays(1));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(peerKey));
        ClusterCertificates.InitCa(Path.Combine(dir, "other"));
        var (strangerCert, strangerKey) = ClusterCertificates.Issue(Path.Combine(dir, "other"), new ClusterIdentity(ClusterRole.Peer, "alice"), [], [], Path.Combine(dir, "stranger"), TimeSpan.FromDays(1));

        using var alice = ClusterTls.Load(peerCert, peerKey, Path.Combine(dir, "alice", "ca.crt"), ClusterRole.Peer);
        Assert.Equal(new ClusterIdentity(ClusterRole.Peer, "alice"), alice.Identity);
        using var supernode = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(snCert, snKey);
        using var stranger = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(strangerCert, strangerKey);

        // Twice: the second pass is answered from the verdicts kept per certificate and role, and must agree.
        for (int pass = 0; pass < 2; pass++)
        {
            Assert.NotNull(alice.Check(alice.Certificate, ClusterRole.Peer, "alice", out _));
            Assert.Null(alice.Check(alice.Certificate, ClusterRole.Peer, "bob", out string wrongName));
            Assert.Contains("expected peer bob", wrongName);
            Assert.Null(alice.Check(supernode, ClusterRole.Peer, null, out string wrongRole)); // a supernode certificate is no peer's
            Assert.NotNull(alice.Check(supernode, ClusterRole.Supernode, "sn", out _));
            Assert.Null(alice.Check(alice.Certificate, ClusterRole.Supernode, null, out _));
            Assert.Null(alice.Check(stranger, ClusterRole.Peer, "alice", out string wrongCa)); // same name, another CA
            Assert.Contains("not valid for this cluster", wrongCa);
            Assert.Null(alice.Check(null, ClusterRole.Peer, null, out string none));
            Assert.Equal("no certificate presented", none);
        }
        Assert.Throws<P2PDistException>(() => ClusterTls.Load(peerCert, peerKey, Path.Combine(dir, "alice", "ca.crt"), ClusterRole.Supernode));
    }
}
