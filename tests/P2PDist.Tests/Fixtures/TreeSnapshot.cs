using System.Security.Cryptography;
using System.Text;
using P2PDist.Conversion.Native;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// What a test compares between two trees: per path the type, mode, owner, size, link target, device
/// numbers, xattrs, content hash, and which other paths are the same inode (hard links). Directory mtimes
/// and sizes are left out: applying whiteouts to a real file system changes them by design.
/// </summary>
public static class TreeSnapshot
{
    public static async Task<SortedDictionary<string, string>> CaptureAsync(string root)
    {
        var listing = await ProcessRunner.RunCheckedAsync("find", root, "-mindepth", "0", "-printf", "%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%l\\0%n\\0%i\\0%T@\\0");
        var fields = listing.Stdout.Split('\0');
        var byInode = new Dictionary<string, List<string>>();
        var rows = new List<string[]>();
        for (int i = 0; i + 10 <= fields.Length; i += 10)
        {
            var row = fields[i..(i + 10)];
            rows.Add(row);
            if (row[1] != "d")
                (byInode.TryGetValue(row[8], out var list) ? list : byInode[row[8]] = []).Add("/" + row[0]);
        }
        var snapshot = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            string path = "/" + row[0];
            string full = Path.Combine(root, row[0]);
            var text = new StringBuilder($"type={row[1]} mode={row[2]} owner={row[3]}:{row[4]}");
            if (row[1] != "d")
                text.Append($" size={row[5]} nlink={row[7]} links=[{string.Join(",", byInode[row[8]].Order(StringComparer.Ordinal))}]");
            if (row[1] == "l")
                text.Append($" target={row[6]}");
            if (row[1] == "f")
            {
                text.Append($" sha256={await HashAsync(full)}");
                text.Append($" mtime={row[9]}");
            }
            if (row[1] is "c" or "b")
                text.Append($" rdev={(await ProcessRunner.RunCheckedAsync("stat", "-c", "%t:%T", full)).Stdout.Trim()}");
            foreach (var (name, value) in LibC.GetXattrs(full).OrderBy(kv => kv.Key, StringComparer.Ordinal))
                text.Append($" xattr:{name}={Convert.ToHexString(value)}");
            snapshot[path] = text.ToString();
        }
        return snapshot;
    }

    private static async Task<string> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
    }

    /// <summary>Fails with the first differences spelled out.</summary>
    public static void AssertEqual(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        var problems = new List<string>();
        foreach (var (path, description) in expected)
        {
            if (!actual.TryGetValue(path, out var other))
                problems.Add($"missing {path} ({description})");
            else if (other != description)
                problems.Add($"differs {path}:\n   expected {description}\n   actual   {other}");
        }
        foreach (var path in actual.Keys.Where(p => !expected.ContainsKey(p)))
            problems.Add($"unexpected {path} ({actual[path]})");
        Xunit.Assert.True(problems.Count == 0, $"{problems.Count} differences:\n" + string.Join("\n", problems.Take(20)));
    }
}
