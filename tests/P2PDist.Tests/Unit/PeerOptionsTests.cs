using P2PDist.Peer.Daemon;
using P2PDist.Rafs;

namespace P2PDist.Tests.Unit;

public sealed class PeerOptionsTests
{
    private static readonly string Example = Path.Combine(AppContext.BaseDirectory, "peer.example.yaml");

    [Fact]
    public void Load_ExampleYaml_GivesItsValues()
    {
        var options = PeerOptions.Load(Example, new Dictionary<string, string?>(), null, null);
        Assert.Equal("/var/lib/p2pdist/peer", options.DataDir);
        Assert.Equal(30, options.ReadTimeoutSeconds);
        Assert.Equal(20L << 30, options.CacheQuotaBytes);
        Assert.False(options.PrefetchAll);
        Assert.Equal((16, 0L, 8), (options.UploadSlots, options.UploadBytesPerSecond, options.PrefetchConcurrency));
        Assert.Equal(P2PDist.Peer.P2P.PeerProtocol.Framed, options.PeerProtocol);
    }

    [Fact]
    public void ListSettings_AreReadAsFlowSequences_AsTheExampleWritesThem()
    {
        string file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.yaml");
        // The example's own commented line, uncommented: what a user does with it must load.
        string example = File.ReadAllLines(Example).Single(l => l.StartsWith("# plainHttpRegistries:"));
        File.WriteAllText(file, example[2..] + "\n");
        try
        {
            Assert.Equal(["127.0.0.1:5000"], PeerOptions.Load(file, new Dictionary<string, string?>(), null, null).PlainHttpRegistries);
            File.WriteAllText(file, "plainHttpRegistries: [127.0.0.1:5000, \"mirror.local:80\" ,registry.lan]  # three\n");
            Assert.Equal(["127.0.0.1:5000", "mirror.local:80", "registry.lan"], PeerOptions.Load(file, new Dictionary<string, string?>(), null, null).PlainHttpRegistries);
            File.WriteAllText(file, "plainHttpRegistries: []\n");
            Assert.Empty(PeerOptions.Load(file, new Dictionary<string, string?>(), null, null).PlainHttpRegistries);
            File.WriteAllText(file, "dataDir: /tmp/x\nplainHttpRegistries: [a, [b]]\n");
            var nested = Assert.Throws<P2PDistException>(() => PeerOptions.Load(file, new Dictionary<string, string?>(), null, null));
            Assert.Contains("line 2: plainHttpRegistries: list items must be plain values", nested.Message);
            File.WriteAllText(file, "plainHttpRegistries: [a,\n");
            Assert.Contains("line 1: plainHttpRegistries: a list must open and close on its line", Assert.Throws<P2PDistException>(() => PeerOptions.Load(file, new Dictionary<string, string?>(), null, null)).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void PeerProtocol_FromFileEnvironmentAndFlag_AndAnUnknownOneIsRefusedByName()
    {
        string file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "peerProtocol: http\n");
        try
        {
            Assert.Equal(P2PDist.Peer.P2P.PeerProtocol.Http, PeerOptions.Load(file, new Dictionary<string, string?>(), null, null).PeerProtocol);
            var environment = new Dictionary<string, string?> { ["P2PDIST_PEER_PROTOCOL"] = "framed" };
            Assert.Equal(P2PDist.Peer.P2P.PeerProtocol.Framed, PeerOptions.Load(file, environment, null, null).PeerProtocol);
            var flag = new PeerTuningFlags(null, null, null) { PeerProtocol = "HTTP" };
            Assert.Equal(P2PDist.Peer.P2P.PeerProtocol.Http, PeerOptions.Load(null, environment, null, null, tuning: flag).PeerProtocol);
            var error = Assert.Throws<P2PDistException>(() => PeerOptions.Load(null, new Dictionary<string, string?> { ["P2PDIST_PEER_PROTOCOL"] = "h2" }, null, null));
            Assert.Contains("P2PDIST_PEER_PROTOCOL 'h2' is not a peer protocol", error.Message);
            var logs = PeerOptions.Load(null, new Dictionary<string, string?> { ["P2PDIST_LOG_FORMAT"] = "json" }, null, null, tuning: new PeerTuningFlags(null, null, null) { LogLevel = "debug" });
            Assert.Equal(("json", "debug"), (logs.LogFormat, logs.LogLevel));
            var badFormat = Assert.Throws<P2PDistException>(() => PeerOptions.Load(null, new Dictionary<string, string?> { ["P2PDIST_LOG_FORMAT"] = "xml" }, null, null));
            Assert.Contains("peer log format 'xml' is not one of text, json", badFormat.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Load_SwarmSettings_FromYamlEnvironmentAndFlags()
    {
        string file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "labels: zone=a,rack=r1\nuploadSlots: 3\nuploadBytesPerSecond: 1000000\nlisten: 127.0.2.1:7710\n");
        try
        {
            var fromFile = PeerOptions.Load(file, new Dictionary<string, string?>(), null, null);
            Assert.Equal(("a", "r1", 3, 1_000_000L), (fromFile.Labels["zone"], fromFile.Labels["rack"], fromFile.UploadSlots, fromFile.UploadBytesPerSecond));
            Assert.Null(fromFile.Supernode); // listen alone: a chunk server without a swarm
            var environment = new Dictionary<string, string?> { ["P2PDIST_LABELS"] = "zone=b", ["P2PDIST_UPLOAD_BYTES_PER_SECOND"] = "5" };
            var flags = new PeerTuningFlags(null, null, null) { UploadSlots = 9, PrefetchConcurrency = 2 };
            var all = PeerOptions.Load(file, environment, null, null, tuning: flags);
            Assert.Equal(("b", 9, 5L, 2), (all.Labels["zone"], all.UploadSlots, all.UploadBytesPerSecond, all.PrefetchConcurrency));
            var error = Assert.Throws<P2PDistException>(() => PeerOptions.Load(file, new Dictionary<string, string?>(), null, null, supernodeFlag: "127.0.0.1:7700", listenFlag: null,
                tuning: new PeerTuningFlags(null, null, null) { UploadSlots = 0 }));
            Assert.Contains("upload slots 0", error.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Load_Precedence_IsDefaultsThenFileThenEnvironmentThenFlags()
    {
        string file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "dataDir: /from/file   # a comment\nreadTimeoutSeconds: 7\ncacheQuotaBytes: 1000\n");
        try
        {
            var fileOnly = PeerOptions.Load(file, new Dictionary<string, string?>(), null, null);
            Assert.Equal(("/from/file", 7.0, 1000L, 4), (fileOnly.DataDir, fileOnly.ReadTimeoutSeconds, fileOnly.CacheQuotaBytes, fileOnly.FuseWorkers));
            var environment = new Dictionary<string, string?> { ["P2PDIST_DATA_DIR"] = "/from/env", ["P2PDIST_READ_TIMEOUT_SECONDS"] = "9" };
            var withEnvironment = PeerOptions.Load(file, environment, null, null);
            Assert.Equal(("/from/env", 9.0), (withEnvironment.DataDir, withEnvironment.ReadTimeoutSeconds));
            var withFlags = PeerOptions.Load(file, environment, "/from/flag", 11, cacheQuotaFlag: 5, tuning: new PeerTuningFlags(2, 0, false));
            Assert.Equal(("/from/flag", 11.0, 5L), (withFlags.DataDir, withFlags.ReadTimeoutSeconds, withFlags.CacheQuotaBytes));
            Assert.Equal((2, 0, false), (withFlags.FuseWorkers, withFlags.MergeBytes, withFlags.Passthrough));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void KernelReadahead_DefaultsToTheKernelsOwn_ComesFromFileOrEnvironment_AndIsBounded()
    {
        Assert.Equal(128, PeerOptions.Load(null, new Dictionary<string, string?>(), null, null).KernelReadaheadKb);
        var raised = PeerOptions.Load(null, new Dictionary<string, string?> { ["P2PDIST_KERNEL_READAHEAD_KB"] = "1024" }, null, null);
        Assert.Equal(1024, raised.KernelReadaheadKb);
        var error = Assert.Throws<P2PDistException>(() => PeerOptions.Load(null, new Dictionary<string, string?> { ["P2PDIST_KERNEL_READAHEAD_KB"] = "99999" }, null, null));
        Assert.Contains("kernel readahead 99999", error.Message);
    }

    [Theory]
    [InlineData("kernelReadaheadKb: -1\n", "kernel readahead -1")]
    [InlineData("dataDir: /x\n  nested: 1\n", "line 2")]
    [InlineData("no colon here\n", "line 1")]
    [InlineData("unknownSetting: 3\n", "unknownSetting")]
    [InlineData("readTimeoutSeconds: -1\n", "read timeout")]
    public void Load_BadFile_NamesTheProblem(string content, string expected)
    {
        string file = Path.Combine(Path.GetTempPath(), $"peer-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, content);
        try
        {
            var error = Assert.Throws<P2PDistException>(() => PeerOptions.Load(file, new Dictionary<string, string?>(), null, null));
            Assert.Contains(expected, error.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
