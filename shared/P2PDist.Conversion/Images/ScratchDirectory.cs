namespace P2PDist.Conversion.Images;

/// <summary>A uniquely named scratch folder inside a chosen parent (Directory.CreateTempSubdirectory only uses the system temp folder).</summary>
public static class ScratchDirectory
{
    public static DirectoryInfo Create(string parent, string prefix)
    {
        Directory.CreateDirectory(parent);
        return Directory.CreateDirectory(Path.Combine(parent, prefix + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal)));
    }
}
