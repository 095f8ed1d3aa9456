using P2PDist.Rafs;

namespace P2PDist.Conversion.Tree;

/// <summary>
/// Turns a tar entry name into path components, refusing anything that could point outside the image:
/// absolute paths, "..", NUL and over-long names. A leading "./" and trailing "/" are normal and dropped.
/// </summary>
public static class LayerPath
{
    public static string[] Split(string name, string where)
    {
        if (name.StartsWith('/'))
            throw new P2PDistException($"{where}: absolute path '{name}' is not allowed in a layer");
        if (name.Contains('\0'))
            throw new P2PDistException($"{where}: path contains a NUL byte");
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".")
                continue;
            if (part == "..")
                throw new P2PDistException($"{where}: path '{name}' contains '..'");
            if (System.Text.Encoding.UTF8.GetByteCount(part) > 255)
                throw new P2PDistException($"{where}: path component longer than 255 bytes in '{name}'");
            parts.Add(part);
        }
        return [.. parts];
    }
}
