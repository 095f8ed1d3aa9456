namespace P2PDist.Cli;

/// <summary>Progress on one rewritten line of stderr when it is a terminal; silent when output is redirected.</summary>
internal sealed class TerminalProgress : IProgress<string>
{
    public static IProgress<string>? CreateIfTerminal() => Console.IsErrorRedirected ? null : new TerminalProgress();

    public void Report(string value)
    {
        int width = Math.Max(Console.WindowWidth - 1, 40);
        Console.Error.Write("\r\u001b[K" + (value.Length > width ? value[..width] : value));
    }

    public static void ClearLine()
    {
        if (!Console.IsErrorRedirected)
            Console.Error.Write("\r\u001b[K");
    }
}
