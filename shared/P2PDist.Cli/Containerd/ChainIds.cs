using System.Security.Cryptography;
using System.Text;

namespace P2PDist.Cli.Containerd;

/// <summary>
/// The names containerd gives layer snapshots: the chain id of the diff ids up to each layer (the OCI image
/// spec's ChainID: the first is its diff id, each next one sha256 of "previous-chain-id diff-id").
/// </summary>
public static class ChainIds
{
    public static List<string> Of(IReadOnlyList<string> diffIds)
    {
        var chain = new List<string>(diffIds.Count);
        foreach (string diffId in diffIds)
            chain.Add(chain.Count == 0 ? diffId : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(chain[^1] + " " + diffId))));
        return chain;
    }
}
