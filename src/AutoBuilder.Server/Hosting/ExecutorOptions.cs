namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Executor".</summary>
public sealed class ExecutorOptions
{
    public const string Section = "Executor";

    /// <summary>Read when services are registered (<see cref="ConfigurationChoice"/>): they pick the executor.</summary>
    public const string KindKey = $"{Section}:{nameof(Kind)}";
    public const string RunnerKey = $"{Section}:{nameof(Runner)}";

    public ExecutorKind Kind { get; set; } = ExecutorKind.Local;

    /// <summary>Where local workspaces are made (fast local scratch); default: the system temp folder.</summary>
    public string? WorkspaceRoot { get; set; }

    /// <summary>Root of the dependency caches, one folder per project (projects/{projectId}); default: {data}/cache.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Keep workspaces after builds (debugging only).</summary>
    public bool KeepWorkspaces { get; set; }

    /// <summary>With the Local executor, where each build's runner runs.</summary>
    public RunnerPlacement Runner { get; set; } = RunnerPlacement.InProcess;

    /// <summary>With Runner=Process, the command that starts a runner; default: this very executable with the verb `runner`.</summary>
    public string? RunnerExecutable { get; set; }
}
