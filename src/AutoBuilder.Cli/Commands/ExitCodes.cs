namespace AutoBuilder.Cli.Commands;

/// <summary>Exit codes of the client commands.</summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked; for a build, it succeeded (or, for status, is still queued/running).</summary>
    public const int Success = 0;

    /// <summary>The build ended failed, timed out or cancelled.</summary>
    public const int BuildFailed = 1;

    /// <summary>Usage, configuration, API or connection error (the reason is printed to stderr).</summary>
    public const int Error = 2;

    /// <summary>Ctrl+C: the client stopped (e.g. following a log); the build itself keeps running on the server.</summary>
    public const int Interrupted = 130;
}
