namespace P2PDist.Tests.Fixtures;

/// <summary>How many file systems are mounted exactly at a path now (a shared image mount is one, an unmounted one none).</summary>
public static class MountCount
{
    public static int At(string mountPoint) =>
        File.ReadAllLines("/proc/self/mountinfo").Count(line => line.Split(' ')[4] == mountPoint);
}
