using System.Diagnostics;
using System.Globalization;

namespace P2PDist.Tests.Fixtures;

/// <summary>
/// Waits on a state rather than on time: polls an observation until a condition holds, with a deadline. A wait
/// that runs out fails with what was awaited and the last value seen, so a timeout says what went wrong instead
/// of turning into a confusing assertion later.
/// </summary>
public static class Eventually
{
    /// <summary>First polls come fast (most states arrive within milliseconds), later ones back off to this.</summary>
    private static readonly TimeSpan MaxInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Observes until <paramref name="until"/> holds for the observation, and returns that observation.
    /// Exceptions for which <paramref name="retryOn"/> answers true count as "not yet" (a server still starting);
    /// any other exception ends the wait at once (a process that exited will not come back).
    /// </summary>
    public static async Task<T> Async<T>(
        Func<Task<T>> observe,
        Func<T, bool> until,
        TimeSpan timeout,
        string awaited,
        Func<T, string>? describe = null,
        Func<Exception, bool>? retryOn = null)
    {
        var clock = Stopwatch.StartNew();
        var interval = TimeSpan.FromMilliseconds(10);
        string lastSeen = "nothing (no observation completed)";
        int attempts = 0;
        while (true)
        {
            attempts++;
            try
            {
                T value = await observe();
                if (until(value))
                    return value;
                lastSeen = describe is null ? Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null" : describe(value);
            }
            catch (Exception e) when (retryOn is not null && retryOn(e))
            {
                lastSeen = $"{e.GetType().Name}: {e.Message}";
            }
            if (clock.Elapsed >= timeout)
                throw new TimeoutException($"waited {timeout.TotalSeconds:0.#} s ({attempts} observations) for {awaited}; last seen: {lastSeen}");
            // The poll interval between two observations of the state, not an ordering delay.
            await Task.Delay(interval);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, MaxInterval.Ticks));
        }
    }

    /// <summary>Waits until <paramref name="condition"/> is true; <paramref name="describe"/> says what was seen when it was not.</summary>
    public static Task Async(Func<Task<bool>> condition, TimeSpan timeout, string awaited, Func<string>? describe = null, Func<Exception, bool>? retryOn = null) =>
        Async(condition, done => done, timeout, awaited, describe is null ? null : _ => describe(), retryOn);

    /// <summary>Waits until the text of a log file matches <paramref name="pattern"/>; fails with the log's tail.</summary>
    public static Task LogMatchesAsync(string logPath, string pattern, TimeSpan timeout) =>
        Async(async () => File.Exists(logPath) ? await File.ReadAllTextAsync(logPath) : "", log => System.Text.RegularExpressions.Regex.IsMatch(log, pattern), timeout,
            $"'{pattern}' in {logPath}", log => "log tail: " + (log.Length > 2000 ? log[^2000..] : log));
}
