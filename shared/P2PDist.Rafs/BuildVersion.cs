using System.Reflection;

namespace P2PDist;

/// <summary>The version this build reports (metrics' p2pdist_build_info, logs): the entry assembly's informational version.</summary>
public static class BuildVersion
{
    public static string Text { get; } =
        (Assembly.GetEntryAssembly() ?? typeof(BuildVersion).Assembly).GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";
}
