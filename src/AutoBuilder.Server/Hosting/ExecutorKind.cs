namespace AutoBuilder.Server.Hosting;

/// <summary>Executor:Kind: where build attempts run.</summary>
public enum ExecutorKind
{
    /// <summary>On this machine, in a local workspace (the default); Executor:Runner says where the runner runs.</summary>
    Local,

    /// <summary>One Kubernetes Job per attempt (section "Kubernetes").</summary>
    Kubernetes,
}
