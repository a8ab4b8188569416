namespace AutoBuilder.Server.Hosting;

/// <summary>Executor:Runner: with the Local executor, where each attempt's runner runs.</summary>
public enum RunnerPlacement
{
    /// <summary>Inside the server, warm (the default); the build command is still a child process.</summary>
    InProcess,

    /// <summary>A child `autobuilder runner` process per attempt, as on Kubernetes.</summary>
    Process,
}
