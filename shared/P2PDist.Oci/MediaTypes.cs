namespace P2PDist.Oci;

/// <summary>Media types of the OCI image spec, Docker's schema 2, and this project's Rafs artifacts (RAFS-FORMAT.md, "In a registry").</summary>
public static class MediaTypes
{
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    // Under the OCI layer prefix, as Nydus's are: containerd treats only those as layers, so only then does
    // CRI label them for a remote snapshotter (containerd's images.IsLayerType).
    public const string RafsBlob = "application/vnd.oci.image.layer.p2pdist.rafs.blob.v1";
    public const string RafsBootstrap = "application/vnd.oci.image.layer.p2pdist.rafs.bootstrap.v1";
    public const string RafsBootstrapZstd = RafsBootstrap + "+zstd";

    /// <summary>The bootstrap's length once decompressed (on a <see cref="RafsBootstrapZstd"/> layer).</summary>
    public const string AnnotationRafsBootstrapLength = "io.p2pdist.rafs.bootstrap.length";

    public static bool IsRafsBootstrap(string? mediaType) => mediaType is RafsBootstrap or RafsBootstrapZstd;

    public const string AnnotationRafsVersion = "io.p2pdist.rafs.version";
    public const string AnnotationRafsBlobIndex = "io.p2pdist.rafs.blob.index";
    public const string AnnotationRafsSource = "io.p2pdist.rafs.source";

    public static readonly string ManifestAccept = string.Join(", ", OciIndex, OciManifest, DockerManifestList, DockerManifest);

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
}
