using P2PDist.Rafs;
using P2PDist.Supernode;

namespace P2PDist.Tests.Unit;

public sealed class SupernodeOptionsTests
{
    [Fact]
    public void ExampleFile_ThenEnvironment_ThenFlags()
    {
        string example = Path.Combine(AppContext.BaseDirectory, "supernode.example.yaml");
        var fromFile = SupernodeOptions.Load(example, new Dictionary<string, string?>(), null);
        Assert.Equal(("127.0.0.1:7700", 15.0, 600.0, 1), (fromFile.Listen, fromFile.PeerTimeoutSeconds, fromFile.BlockSeconds, fromFile.OriginFetchersPerChunk));
        var environment = new Dictionary<string, string?> { ["P2PDIST_SUPERNODE_LISTEN"] = "127.0.0.1:9000", ["P2PDIST_SUPERNODE_PEER_TIMEOUT_SECONDS"] = "20" };
        var withEnvironment = SupernodeOptions.Load(example, environment, null);
        Assert.Equal(("127.0.0.1:9000", 20.0), (withEnvironment.Listen, withEnvironment.PeerTimeoutSeconds));
        var withFlags = SupernodeOptions.Load(example, environment, new SupernodeOptions { Listen = "127.0.0.1:9001", OriginFetchersPerChunk = 2 });
        Assert.Equal(("127.0.0.1:9001", 20.0, 2), (withFlags.Listen, withFlags.PeerTimeoutSeconds, withFlags.OriginFetchersPerChunk));
    }

    [Theory]
    [InlineData("listen: nowhere\n", "--listen 'nowhere'")]
    [InlineData("tlsCertificateFile: /x.pem\n", "--tls-cert and --tls-key go together")]
    [InlineData("originFetchersPerChunk: 0\n", "origin fetchers per chunk 0")]
    [InlineData("colour: blue\n", "colour")]
    public void BadSettings_AreNamed(string content, string expected)
    {
        string file = Path.Combine(Path.GetTempPath(), $"supernode-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, content);
        try
        {
            var error = Assert.Throws<P2PDistException>(() => SupernodeOptions.Load(file, new Dictionary<string, string?>(), null));
            Assert.Contains(expected, error.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
