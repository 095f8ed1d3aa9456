using P2PDist.Conversion.Images;
using P2PDist.Oci;

namespace P2PDist.Tests.Unit;

/// <summary>Review C2 (registry side) and L1: the pure rules of what the registry client sends where.</summary>
public sealed class RegistryReferenceRulesTests
{
    [Theory]
    [InlineData("/etc/cron.d", "neither a valid tag nor a sha256 digest")]
    [InlineData("../../../v2/other/manifests/latest", "neither a valid tag nor a sha256 digest")]
    [InlineData("sha256:abc", "is not a sha256 digest")]
    [InlineData("sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789", "is not a sha256 digest")]
    [InlineData("sha512:00", "is not a sha256 digest")]
    [InlineData("sha256:/etc/cron.d", "is not a sha256 digest")]
    [InlineData("", "neither a valid tag nor a sha256 digest")]
    public async Task C2_GetManifestAsync_RefusesAReferenceThatIsNeitherTagNorDigest_BeforeAnyRequest(string reference, string expected)
    {
        // Port 9 (discard) on loopback: a request would fail as "unreachable"; the refusal must come first.
        using var client = new RegistryClient(ImageReference.Parse("127.0.0.1:9/app"), new RegistryOptions { PlainHttp = true, MaxAttempts = 1 });
        var e = await Assert.ThrowsAsync<OciException>(() => client.GetManifestAsync(reference, CancellationToken.None));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("unreachable", e.Message);
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void C2_ValidTagOrDigest_IsAccepted(string reference) => ManifestReference.Require(reference, "test");

    [Theory]
    [InlineData("registry.example.com", "registry.example.com", true)]
    [InlineData("REGISTRY.example.com", "registry.example.com", true)]
    [InlineData("auth.docker.io", "registry-1.docker.io", true)]
    [InlineData("evil.example.org", "registry.example.com", false)]
    [InlineData("example.com", "registry.example.com", false)]
    [InlineData("evil.io", "docker.io", false)]
    [InlineData("127.0.0.2", "127.0.0.1", false)]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    public void L1_PasswordGoesOnlyToTheRegistrysOwnHostOrASiblingName(string realmHost, string registryHost, bool allowed) =>
        Assert.Equal(allowed, TokenRealmPolicy.MayReceiveCredentials(realmHost, registryHost));

    [Fact]
    public void L1_HttpRealmForAnHttpsRegistry_IsRefusedEvenWithoutCredentials()
    {
        var e = Assert.Throws<RegistryException>(() => TokenRealmPolicy.Check("http://registry.example.com/token", new Uri("https://registry.example.com/"), false, "test"));
        Assert.Contains("must not travel over plain http", e.Message);
    }

    [Fact]
    public void M9_RatioBudget_AppliesPastTheFloorAndNeverAboveTheLayerLimit()
    {
        var limits = new ConversionLimits { MaxCompressionRatio = 100, MaxLayerBytes = 10L << 30, RatioFloorBytes = 64 << 20 };
        Assert.Equal(64L << 20, limits.LayerByteBudget(1000).Bytes);
        Assert.Equal(1600L << 20, limits.LayerByteBudget(16 << 20).Bytes);
        Assert.Contains("--max-compression-ratio 100", limits.LayerByteBudget(16 << 20).Reason);
        Assert.Equal(10L << 30, limits.LayerByteBudget(1L << 30).Bytes);
        Assert.Contains("--max-layer-bytes", limits.LayerByteBudget(1L << 30).Reason);
    }
}
