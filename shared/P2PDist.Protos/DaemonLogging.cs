using Microsoft.Extensions.Logging;

namespace P2PDist;

/// <summary>
/// How both daemons log: one line per event to stdout, as text for people (the default) or as JSON for log
/// collectors (<c>logFormat: json</c>), with each event's fields (peer, chunk, blob, image, mount point) as
/// properties of its <c>State</c>. The level is the daemon's <c>logLevel</c>; the framework's own chatter stays at warnings.
/// </summary>
public static class DaemonLogging
{
    public static readonly IReadOnlyList<string> Formats = ["text", "json"];
    public static readonly IReadOnlyList<string> Levels = ["trace", "debug", "information", "warning", "error", "critical"];

    /// <summary>Null when <paramref name="format"/> and <paramref name="level"/> are valid, else what is wrong, naming <paramref name="source"/>.</summary>
    public static string? Problem(string format, string level, string source) =>
        !Formats.Contains(format) ? $"{source} log format '{format}' is not one of {string.Join(", ", Formats)}"
        : !Levels.Contains(level) ? $"{source} log level '{level}' is not one of {string.Join(", ", Levels)}"
        : null;

    public static void Configure(ILoggingBuilder logging, string format, string level)
    {
        logging.ClearProviders();
        if (format == "json")
            logging.AddJsonConsole(o => { o.UseUtcTimestamp = true; o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'"; });
        else
            logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        logging.SetMinimumLevel(Enum.Parse<LogLevel>(level, ignoreCase: true));
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Grpc", LogLevel.Warning);
    }
}
