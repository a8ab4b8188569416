using System.ComponentModel.DataAnnotations;

namespace AutoBuilder.Server.Executors.Kubernetes;

/// <summary>Section "Kubernetes": how the Kubernetes executor shapes each build's Job (Executor:Kind = Kubernetes).</summary>
public sealed class KubernetesExecutorOptions
{
    public const string Section = "Kubernetes";

    /// <summary>Namespace of the build Jobs; default: the dispatcher's own namespace in a cluster, else "auto-builder".</summary>
    public string? Namespace { get; set; }

    /// <summary>
    /// The API server to talk to, for running outside a cluster without a kubeconfig (plain, unauthenticated: tests).
    /// Default: the in-cluster service account, else the kubeconfig ($KUBECONFIG or ~/.kube/config).
    /// </summary>
    public Uri? ApiServer { get; set; }

    /// <summary>The runner image for builds whose toolchain has no entry in <see cref="RunnerImages"/>.</summary>
    [Required]
    public string RunnerImage { get; set; } = "autobuilder/runner:latest";

    /// <summary>Runner images by requested toolchain (maven, gradle, npm, dotnet, script).</summary>
    public Dictionary<string, string> RunnerImages { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [RegularExpression("^(Always|IfNotPresent|Never)$", ErrorMessage = "Kubernetes:ImagePullPolicy must be Always, IfNotPresent or Never.")]
    public string ImagePullPolicy { get; set; } = "IfNotPresent";

    /// <summary>
    /// A ReadWriteMany claim mounted at /cache in every build, for Caches:Mode=Shared only; unset (the default) mounts no
    /// shared volume: keyed caches are restored into the build's own emptyDir.
    /// </summary>
    public string? CacheClaimName { get; set; }

    /// <summary>Size limit of the build's emptyDir workspace; past it the kubelet evicts the pod.</summary>
    [Required]
    public string WorkspaceSizeLimit { get; set; } = "20Gi";

    public ResourceSettings Requests { get; set; } = new() { Cpu = "1", Memory = "2Gi", EphemeralStorage = "10Gi" };

    public ResourceSettings Limits { get; set; } = new() { Cpu = "2", Memory = "4Gi", EphemeralStorage = "20Gi" };

    /// <summary>How long a finished Job (and its pod and logs) stays for inspection.</summary>
    [Range(0, 30 * 24 * 3600)]
    public int TtlSecondsAfterFinished { get; set; } = 3600;

    /// <summary>The non-root user and group the runner runs as (the runner image's user).</summary>
    [Range(1, int.MaxValue)]
    public long RunAsUser { get; set; } = 10001;

    public Dictionary<string, string> NodeSelector { get; set; } = new(StringComparer.Ordinal);

    public List<TolerationSettings> Tolerations { get; set; } = [];

    /// <summary>A build whose pod cannot be scheduled (or whose image cannot be pulled) this long is given up.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxPendingTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Watches are backed by a full re-list this often (missed events, dropped connections).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(30);

    public string ImageFor(string? toolchain) =>
        toolchain is not null && RunnerImages.TryGetValue(toolchain, out var image) && !string.IsNullOrWhiteSpace(image) ? image : RunnerImage;
}

/// <summary>Kubernetes quantities (e.g. "2", "500m", "4Gi"); an empty one is left out of the Job.</summary>
public sealed class ResourceSettings
{
    public string? Cpu { get; set; }
    public string? Memory { get; set; }
    public string? EphemeralStorage { get; set; }
}

/// <summary>One toleration of the build pods (e.g. a dedicated build node pool's taint).</summary>
public sealed class TolerationSettings
{
    public string? Key { get; set; }
    public string Operator { get; set; } = "Equal";
    public string? Value { get; set; }
    public string? Effect { get; set; }
}
