using System.CommandLine;
using P2PDist.Cli;

// p2pdist: one command, verbs per role. Each verb's handler lives in its own file under Commands/.
var root = new RootCommand("P2PDist: lazy-loading, peer-to-peer distribution of container images in the Rafs format.")
{
    ImageCommands.Create(),
    CertCommands.Create(),
    P2PDist.Cli.Containerd.ContainerdCommands.Config(),
};
foreach (var command in PeerCommands.Create())
    root.Subcommands.Add(command);
return await CommandRunner.InvokeAsync(root, args);
