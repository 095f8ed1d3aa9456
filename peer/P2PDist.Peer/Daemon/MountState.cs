using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace P2PDist.Peer.Daemon;

/// <summary>
/// The state file (mounts.json): the mount requests to restore after a restart. It may hold registry
/// credentials, so it is created 0600 (never readable by others, not even for an instant), written to a
/// temporary name, flushed to disk and renamed, so a crash or power loss leaves the old file or the new one.
/// </summary>
internal static class MountState
{
    public static void Save(string path, List<MountRequest> requests)
    {
        string temporary = path + ".partial";
        File.Delete(temporary); // a leftover of a crash may have other permissions: start from nothing
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(stream, requests);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The requests to restore; a damaged file is moved aside and logged (the daemon starts with no mounts rather than not at all).</summary>
    public static List<MountRequest> Load(string path, ILogger log)
    {
        if (!File.Exists(path))
            return [];
        try
        {
            var requests = JsonSerializer.Deserialize<List<MountRequest>>(File.ReadAllBytes(path)) ?? [];
            return requests.Where(r => r is { Reference: not null, MountPoint: not null } && Path.IsPathFullyQualified(r.MountPoint)).ToList();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            string aside = $"{path}.damaged-{DateTime.UtcNow:yyyyMMddHHmmss}";
            log.LogError("the state file {Path} cannot be read ({Reason}); moved to {Aside}, no mounts restored", path, e.Message, aside);
            try
            {
                File.Move(path, aside);
            }
            catch (IOException)
            {
                // Left in place: the next save replaces it.
            }
            return [];
        }
    }
}
