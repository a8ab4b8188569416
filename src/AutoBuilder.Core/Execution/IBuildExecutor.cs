namespace AutoBuilder.Core.Execution;

/// <summary>What an executor needs to start the runner of one build attempt.</summary>
public sealed record BuildLaunch
{
    public required string BuildId { get; init; }
    public required string ProjectId { get; init; }
    public required int Number { get; init; }
    public required int Attempt { get; init; }
    /// <summary>The build token: handed to the runner out of band (pipe, file, Secret), never in its environment.</summary>
    public required string Token { get; init; }
    /// <summary>Where the runner finds the API.</summary>
    public required Uri ApiUrl { get; init; }
    /// <summary>Hard limit for the whole attempt; the executor kills the runner past it.</summary>
    public required TimeSpan Timeout { get; init; }
    /// <summary>The toolchain requested with the build, if any (a Kubernetes executor picks the runner image by it).</summary>
    public string? Toolchain { get; init; }
}

/// <summary>How a runner process (or Job) ended, as the executor saw it.</summary>
/// <param name="ExitCode">The runner's exit code, when it exited by itself.</param>
/// <param name="Error">Why it ended, in words an operator understands (null after a clean exit).</param>
/// <param name="TimedOut">The platform stopped it at its deadline (a Job's activeDeadlineSeconds): the build is TimedOut.</param>
/// <param name="Retryable">
/// False when the build itself caused the end (out of memory, over its disk limit): running it again would end the
/// same way, so the build fails instead of being retried as an infrastructure failure.
/// </param>
public sealed record ExecutionExit(int? ExitCode, string? Error, bool TimedOut = false, bool Retryable = true);

/// <summary>A running build attempt.</summary>
public interface IBuildExecution : IAsyncDisposable
{
    string BuildId { get; }
    int Attempt { get; }

    /// <summary>Completes when the runner is gone, whatever the reason.</summary>
    Task<ExecutionExit> Completion { get; }

    /// <summary>Stops the attempt and everything it started (cancel, timeout, shutdown).</summary>
    Task StopAsync(string reason, CancellationToken cancellationToken = default);
}

/// <summary>Starts runners: a child process (Local) or a Kubernetes Job.</summary>
public interface IBuildExecutor
{
    /// <summary>
    /// Whether attempts run on without the dispatcher (Kubernetes Jobs): a stopping dispatcher then leaves them running
    /// for the next one to adopt, instead of stopping and requeueing them (local child processes).
    /// </summary>
    bool AttemptsOutliveDispatcher => false;

    Task<IBuildExecution> StartAsync(BuildLaunch launch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Finds an attempt started by an earlier process (after a restart). Null when it is gone or cannot be
    /// followed (a local child process dies with its server): the dispatcher then retries or fails the build.
    /// </summary>
    Task<IBuildExecution?> TryAdoptAsync(BuildLaunch launch, CancellationToken cancellationToken = default);
}
