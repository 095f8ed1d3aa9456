using System.CommandLine;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli.Containerd;

/// <summary>`p2pdist image pull` (a lazy pull into containerd) and `p2pdist containerd config` (the snippet that adds the peer's snapshotter).</summary>
internal static class ContainerdCommands
{
    // Where the peer serves it unless told otherwise (DATA_DIR/snapshotter.sock with the default data dir).
    public const string DefaultSnapshotterSocket = "/var/lib/p2pdist/peer/snapshotter.sock";

    public static Command Pull()
    {
        var flags = new RegistryFlags();
        var image = new Argument<string>("REF") { Description = "Rafs image: host[:port]/repo[:tag|@sha256:...]" };
        var address = new Option<string?>("--address", "-a") { Description = "containerd's socket (default: CONTAINERD_ADDRESS, else /run/containerd/containerd.sock)" };
        var ns = new Option<string?>("--namespace", "-n") { Description = "containerd namespace (default: CONTAINERD_NAMESPACE, else default; Kubernetes uses k8s.io)" };
        var snapshotter = new Option<string>("--snapshotter") { Description = "The peer's snapshotter as containerd names it", DefaultValueFactory = _ => "p2pdist" };
        var command = new Command("pull", "Pull a Rafs image into containerd lazily: no layer data is downloaded; containers read it through the peer") { image, address, ns, snapshotter };
        flags.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string reference = parse.GetValue(image)!;
            var parsed = ImageReference.Parse(reference);
            if (parsed.IsLayout)
                throw new P2PDistException($"{reference}: containerd pulls from a registry, not from an OCI layout directory");
            string snapshotterName = parse.GetValue(snapshotter)!;
            // A plugin name, and part of a garbage-collection label key (containerd.io/gc.ref.snapshot.NAME): a typo should fail here, not in containerd.
            if (snapshotterName.Length == 0 || snapshotterName.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
                throw new P2PDistException($"--snapshotter '{snapshotterName}': a snapshotter name is letters, digits, '-', '_' and '.'");
            var registry = flags.Read(parse);
            using var store = ImageStores.Open(parsed, registry);
            using var containerd = new ContainerdConnection(ContainerdConnection.SocketFrom(parse.GetValue(address)), ContainerdConnection.NamespaceFrom(parse.GetValue(ns)));
            await new LazyPull(containerd, snapshotterName, Console.Out).RunAsync(store, reference, registry.PlainHttp, cancellationToken);
            return 0;
        });
        return command;
    }

    public static Command Config()
    {
        var socket = new Option<string>("--socket") { Description = "The peer's snapshotter socket", DefaultValueFactory = _ => DefaultSnapshotterSocket };
        var config = new Command("config", "Print the containerd configuration that adds the peer's snapshotter (and makes it CRI's)") { socket };
        config.SetAction(parse =>
        {
            string path = parse.GetValue(socket)!;
            // The path goes into a TOML basic string as is.
            if (!Path.IsPathRooted(path) || path.Any(c => c is '"' or '\\' || char.IsControl(c)))
                throw new P2PDistException($"--socket '{path}': give an absolute path without quotes, backslashes or control characters");
            Console.Write(Snippet(path));
            return 0;
        });
        return new Command("containerd", "containerd integration") { config };
    }

    public static string Snippet(string socket) => $"""
        # containerd 1.6 (version = 2): append to /etc/containerd/config.toml, or put in a file it imports
        # (imports = [...]). An imported file replaces the whole section of each plugin it names (here CRI's)
        # in config.toml: other CRI settings then go in the imported file too.
        [proxy_plugins.p2pdist]
          type = "snapshot"
          address = "{socket}"

        # For Kubernetes (CRI): lazy pulls need the layer labels CRI sends only when annotations are enabled.
        [plugins."io.containerd.grpc.v1.cri".containerd]
          snapshotter = "p2pdist"
          disable_snapshot_annotations = false

        """;
}
