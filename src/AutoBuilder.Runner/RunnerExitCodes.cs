namespace AutoBuilder.Runner;

/// <summary>What <see cref="BuildRunner.RunAsync"/> returns. Only 0 means the build's end was reported.</summary>
public static class RunnerExitCodes
{
    /// <summary>The protocol completed (the build itself may have failed or timed out).</summary>
    public const int Completed = 0;

    /// <summary>The runner failed: the API or storage stayed unreachable, or an unexpected error. Retryable infrastructure failure.</summary>
    public const int InfrastructureFailure = 1;

    /// <summary>The runner was stopped through its cancellation token (parent died, SIGTERM); the build was killed.</summary>
    public const int Cancelled = 2;

    /// <summary>The API answered 409: this attempt is stale or the build has ended (e.g. cancelled by the user); the build was killed.</summary>
    public const int Stale = 3;

    /// <summary>The API answered 401/403: the token is not (or no longer) valid.</summary>
    public const int Unauthorized = 4;
}
