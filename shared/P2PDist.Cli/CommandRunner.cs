using System.CommandLine;
using P2PDist.Oci;
using P2PDist.Rafs;

namespace P2PDist.Cli;

/// <summary>Runs the parsed command and turns the project's errors into one clear line and exit code 1.</summary>
internal static class CommandRunner
{
    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        try
        {
            var parse = root.Parse(args);
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancel.Token);
        }
        catch (Exception e) when (e is P2PDistException or OciException or IOException or UnauthorizedAccessException)
        {
            TerminalProgress.ClearLine();
            Console.Error.WriteLine($"p2pdist: error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("p2pdist: cancelled");
            return 130;
        }
    }
}
