using System.Diagnostics;

namespace P2PDist.Tests.Fixtures;

/// <summary>Starts a long-running server process whose stdout and stderr go, line by line, to a log file the test can read.</summary>
public static class LoggedProcess
{
    public static Process Start(string file, IEnumerable<string> args, string logPath)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Arguments that run the p2pdist built next to the tests.</summary>
    public static string[] P2PDist(params string[] args) => [Path.Combine(AppContext.BaseDirectory, "p2pdist.dll"), .. args];
}
