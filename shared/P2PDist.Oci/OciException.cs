namespace P2PDist.Oci;

/// <summary>A failure talking to a registry or reading an image: the message names the image, blob or URL.</summary>
public class OciException : Exception
{
    public OciException(string message) : base(message) { }
    public OciException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The registry answered with an HTTP error; <see cref="StatusCode"/> is 0 when no answer came at all.</summary>
public sealed class RegistryException : OciException
{
    public RegistryException(int statusCode, string message) : base(message) => StatusCode = statusCode;
    public RegistryException(int statusCode, string message, Exception inner) : base(message, inner) => StatusCode = statusCode;

    public int StatusCode { get; }
}
