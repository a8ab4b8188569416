namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Executor".</summary>
public sealed class ExecutorOptions
{
    public const string Section = "Executor";
    public const string Local = "Local";
    public const string Kubernetes = "Kubernetes";
    public const string InProcess = "InProcess";
    public const string Process = "Process";

    /// <summary>Local (a child process per build) or Kubernetes (a Job per build; section "Kubernetes").</summary>
    public string Kind { get; set; } = Local;

    /// <summary>Where local workspaces are made (fast local scratch); default: the system temp folder.</summary>
    public string? WorkspaceRoot { get; set; }

    /// <summary>Root of the dependency caches, one folder per project (projects/{projectId}); default: {data}/cache.</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>Keep workspaces after builds (debugging only).</summary>
    public bool KeepWorkspaces { get; set; }

    /// <summary>
    /// With the Local executor, where each build's runner runs: InProcess (default: inside the server, warm; the build
    /// command is still a child process) or Process (a child `autobuilder runner` process per build, as on Kubernetes).
    /// </summary>
    public string Runner { get; set; } = InProcess;

    /// <summary>With Runner=Process, the command that starts a runner; default: this very executable with the verb `runner`.</summary>
    public string? RunnerExecutable { get; set; }
}
