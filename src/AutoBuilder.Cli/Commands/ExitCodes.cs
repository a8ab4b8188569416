namespace AutoBuilder.Cli.Commands;

/// <summary>
/// Exit codes of every `autobuilder` verb. A runner's outcome codes are <see cref="AutoBuilder.Runner.RunnerExitCodes"/>;
/// `autobuilder runner` returns <see cref="Error"/> only when it cannot start (bad --api, no token), the same number as
/// RunnerExitCodes.Cancelled: executors treat every non-zero runner exit alike, as a lost attempt.
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked; for a build, it succeeded (or, for status, is still queued/running).</summary>
    public const int Success = 0;

    /// <summary>The build ended failed, timed out or cancelled.</summary>
    public const int BuildFailed = 1;

    /// <summary>Usage, configuration, API or connection error (the reason is printed to stderr); `serve` and `migrate` refusing their configuration.</summary>
    public const int Error = 2;

    /// <summary>Ctrl+C: the client stopped (e.g. following a log); the build itself keeps running on the server.</summary>
    public const int Interrupted = 130;
}
