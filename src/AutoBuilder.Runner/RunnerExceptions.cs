namespace AutoBuilder.Runner;

/// <summary>The build itself cannot go on (bad source, bad autobuilder.yml, ...): it ends as failed with this message.</summary>
public sealed class BuildFailureException : Exception
{
    public BuildFailureException(string message) : base(message) { }
    public BuildFailureException(string message, Exception innerException) : base(message, innerException) { }
    public BuildFailureException() { }
}

/// <summary>The runner must stop without completing: the API refused the attempt (409, 401/403) or stayed unreachable.</summary>
public sealed class RunnerStoppedException : Exception
{
    public RunnerStoppedException(int exitCode, string message, Exception? innerException = null) : base(message, innerException) => ExitCode = exitCode;
    public RunnerStoppedException(string message) : this(RunnerExitCodes.InfrastructureFailure, message) { }
    public RunnerStoppedException(string message, Exception innerException) : this(RunnerExitCodes.InfrastructureFailure, message, innerException) { }
    public RunnerStoppedException() : this(RunnerExitCodes.InfrastructureFailure, "runner stopped") { }

    /// <summary>One of <see cref="RunnerExitCodes"/>.</summary>
    public int ExitCode { get; }
}
