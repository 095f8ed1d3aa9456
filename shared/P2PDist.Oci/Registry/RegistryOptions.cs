namespace P2PDist.Oci;

/// <summary>How to reach registries: transport, credentials, deadlines and retries. Defaults suit a production registry.</summary>
public sealed record RegistryOptions
{
    /// <summary>Speak plain HTTP instead of HTTPS (for a local registry such as 127.0.0.1:5000).</summary>
    public bool PlainHttp { get; init; }

    /// <summary>A PEM file of CA certificates to trust for the registry's TLS certificate, in addition to the system's.</summary>
    public string? CaCertificateFile { get; init; }

    /// <summary>Local address connections leave from (a peer's own address, so all of a node's traffic shares its link); null: the system picks.</summary>
    public System.Net.IPAddress? SourceAddress { get; init; }

    public string? Username { get; init; }
    public string? Password { get; init; }

    /// <summary>Docker's credential file; credentials in it are used when none are given explicitly.</summary>
    public string DockerConfigFile { get; init; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker", "config.json");

    /// <summary>Deadline for one request until its response headers, and for each read of a response body.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts for one request when the registry answers 5xx or the connection fails.</summary>
    public int MaxAttempts { get; init; } = 4;

    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The clock of the request deadlines and the retry back-off (a fake one in tests).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Blobs larger than this are uploaded in chunks (PATCH) rather than in one PUT.</summary>
    public long ChunkedUploadThreshold { get; init; } = 64L << 20;

    public int UploadChunkSize { get; init; } = 16 << 20;
}
