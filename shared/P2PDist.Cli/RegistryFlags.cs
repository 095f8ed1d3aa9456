using System.CommandLine;
using P2PDist.Oci;

namespace P2PDist.Cli;

/// <summary>The registry options every verb that talks to a registry accepts.</summary>
internal sealed class RegistryFlags
{
    public Option<bool> PlainHttp { get; } = new("--plain-http") { Description = "Talk to the registry over plain HTTP (local registries such as 127.0.0.1:5000)" };
    public Option<string?> Username { get; } = new("--username") { Description = "Registry username (default: from ~/.docker/config.json)" };
    public Option<string?> Password { get; } = new("--password") { Description = "Registry password (other users can see it in ps: prefer --password-stdin or P2PDIST_REGISTRY_PASSWORD)" };
    public Option<bool> PasswordStdin { get; } = new("--password-stdin") { Description = "Read the registry password from standard input (first line)" };
    public Option<string?> CaCert { get; } = new("--ca-cert") { Description = "PEM file of CA certificates to trust for the registry's TLS certificate" };
    public Option<double> Timeout { get; } = new("--timeout") { Description = "Seconds to wait for each registry request or read before retrying", DefaultValueFactory = _ => 30 };
    public Option<string> WorkDir { get; } = new("--work-dir") { Description = "Scratch folder for blobs in transit", DefaultValueFactory = _ => Path.GetTempPath() };

    public void AddTo(Command command)
    {
        command.Options.Add(PlainHttp);
        command.Options.Add(Username);
        command.Options.Add(Password);
        command.Options.Add(PasswordStdin);
        command.Options.Add(CaCert);
        command.Options.Add(Timeout);
        command.Options.Add(WorkDir);
    }

    public RegistryOptions Read(ParseResult parse) => new()
    {
        PlainHttp = parse.GetValue(PlainHttp),
        Username = parse.GetValue(Username),
        Password = parse.GetValue(PasswordStdin) ? Console.In.ReadLine() : parse.GetValue(Password) ?? Environment.GetEnvironmentVariable("P2PDIST_REGISTRY_PASSWORD"),
        CaCertificateFile = parse.GetValue(CaCert),
        RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(Timeout)),
    };
}
