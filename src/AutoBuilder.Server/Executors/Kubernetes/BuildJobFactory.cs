using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using AutoBuilder.Core.Execution;
using k8s;
using k8s.Models;

namespace AutoBuilder.Server.Executors.Kubernetes;

/// <summary>
/// The one place that shapes a build attempt's Kubernetes objects: a Secret with the build token and the Job that runs
/// `autobuilder runner` on an emptyDir workspace (and, for Caches:Mode=Shared, the cache claim at /cache). The executor creates exactly these;
/// `autobuilder k8s render-job` prints them. The Job holds no account-wide credential: only the token (by reference
/// to its Secret) and the API's address.
/// </summary>
public sealed partial class BuildJobFactory(KubernetesExecutorOptions options)
{
    public const string AppLabel = "app.kubernetes.io/name";
    public const string AppName = "autobuilder";
    public const string ComponentLabel = "app.kubernetes.io/component";
    public const string BuildIdLabel = "autobuilder.dev/build-id";
    public const string ProjectLabel = "autobuilder.dev/project";
    public const string NumberLabel = "autobuilder.dev/build-number";
    public const string AttemptLabel = "autobuilder.dev/attempt";
    public const string ToolchainLabel = "autobuilder.dev/toolchain";
    /// <summary>The exact project id (a label value may not end in '-'; an annotation holds anything).</summary>
    public const string ProjectAnnotation = "autobuilder.dev/project-id";

    /// <summary>Selects every build Job and pod AutoBuilder made.</summary>
    public static readonly string BuildSelector = $"{AppLabel}={AppName},{ComponentLabel}=build";

    public const string ContainerName = "runner";
    public const string WorkspacePath = "/workspace";
    public const string CachePath = "/cache";
    public const string TokenDirectory = "/var/run/autobuilder";
    public const string TokenKey = "token";
    public static readonly string TokenPath = $"{TokenDirectory}/{TokenKey}";

    public KubernetesExecutorOptions Options { get; } = options;

    /// <summary>Caches:Mode=Shared's claim is configured: builds mount it at /cache. Otherwise no build shares a volume.</summary>
    private bool SharedCache => !string.IsNullOrWhiteSpace(Options.CacheClaimName);

    /// <summary>The Job of one attempt: "build-{buildId}-{attempt}", at most 44 characters, a DNS label for any build.</summary>
    public static string JobName(string buildId, int attempt) => $"build-{buildId}-{attempt.ToString(CultureInfo.InvariantCulture)}";

    public static string SecretName(string buildId, int attempt) => $"{JobName(buildId, attempt)}-token";

    /// <summary>A valid label value for any project id: the id itself when it is one, else a trimmed form plus a hash.</summary>
    public static string ProjectLabelValue(string projectId)
    {
        ArgumentNullException.ThrowIfNull(projectId);
        if (LabelValuePattern().IsMatch(projectId) && projectId.Length <= 63)
        {
            return projectId;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(projectId)))[..8];
        var stem = projectId.Length > 50 ? projectId[..50] : projectId;
        return $"{stem.Trim('-')}-{hash}".TrimStart('-');
    }

    public IDictionary<string, string> Labels(BuildLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [AppLabel] = AppName,
            [ComponentLabel] = "build",
            ["app.kubernetes.io/managed-by"] = "autobuilder-dispatcher",
            [BuildIdLabel] = launch.BuildId,
            [ProjectLabel] = ProjectLabelValue(launch.ProjectId),
            [NumberLabel] = launch.Number.ToString(CultureInfo.InvariantCulture),
            [AttemptLabel] = launch.Attempt.ToString(CultureInfo.InvariantCulture),
        };
        if (launch.Toolchain is { } toolchain && LabelValuePattern().IsMatch(toolchain) && toolchain.Length <= 63)
        {
            labels[ToolchainLabel] = toolchain;
        }

        return labels;
    }

    /// <summary>The token's Secret; the executor sets its owner to the Job once that exists, so they go together.</summary>
    public V1Secret Secret(BuildLaunch launch, V1Job? owner = null)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var secret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Metadata = new V1ObjectMeta
            {
                Name = SecretName(launch.BuildId, launch.Attempt),
                NamespaceProperty = Namespace,
                Labels = Labels(launch),
                Annotations = new Dictionary<string, string> { [ProjectAnnotation] = launch.ProjectId },
            },
            Type = "Opaque",
            StringData = new Dictionary<string, string> { [TokenKey] = launch.Token },
        };
        if (owner?.Metadata?.Uid is { } uid)
        {
            secret.Metadata.OwnerReferences =
            [
                new V1OwnerReference { ApiVersion = "batch/v1", Kind = "Job", Name = owner.Metadata.Name, Uid = uid, BlockOwnerDeletion = true },
            ];
        }

        return secret;
    }

    public string Namespace => Options.Namespace ?? "auto-builder";

    public V1Job Job(BuildLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var labels = Labels(launch);
        var deadline = (long)Math.Ceiling(launch.Timeout.TotalSeconds);
        return new V1Job
        {
            ApiVersion = "batch/v1",
            Kind = "Job",
            Metadata = new V1ObjectMeta
            {
                Name = JobName(launch.BuildId, launch.Attempt),
                NamespaceProperty = Namespace,
                Labels = labels,
                Annotations = new Dictionary<string, string> { [ProjectAnnotation] = launch.ProjectId },
            },
            Spec = new V1JobSpec
            {
                // The dispatcher decides retries (a new attempt, a new Job); Kubernetes never restarts a build.
                BackoffLimit = 0,
                ActiveDeadlineSeconds = deadline,
                TtlSecondsAfterFinished = Options.TtlSecondsAfterFinished,
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(labels), Annotations = new Dictionary<string, string> { [ProjectAnnotation] = launch.ProjectId } },
                    Spec = PodSpec(launch),
                },
            },
        };
    }

    private V1PodSpec PodSpec(BuildLaunch launch) => new()
    {
        RestartPolicy = "Never",
        // A build must not reach the Kubernetes API: no service-account token, no service variables.
        AutomountServiceAccountToken = false,
        EnableServiceLinks = false,
        SecurityContext = new V1PodSecurityContext
        {
            RunAsNonRoot = true,
            RunAsUser = Options.RunAsUser,
            RunAsGroup = Options.RunAsUser,
            FsGroup = Options.RunAsUser,
            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
        },
        NodeSelector = Options.NodeSelector.Count == 0 ? null : new Dictionary<string, string>(Options.NodeSelector),
        Tolerations = Options.Tolerations.Count == 0
            ? null
            : Options.Tolerations.Select(t => new V1Toleration { Key = t.Key, OperatorProperty = t.Operator, Value = t.Value, Effect = t.Effect }).ToList(),
        Containers =
        [
            new V1Container
            {
                Name = ContainerName,
                Image = Options.ImageFor(launch.Toolchain),
                ImagePullPolicy = Options.ImagePullPolicy,
                // The image's entrypoint is `autobuilder`. The token comes from the mounted Secret; the runner is
                // detached (no parent process whose stdin it could watch) and the pod is its sandbox.
                Args =
                [
                    "runner", "--api", launch.ApiUrl.ToString(), "--build", launch.BuildId,
                    "--workspace", WorkspacePath, .. SharedCache ? ["--cache", CachePath] : Array.Empty<string>(), "--token-file", TokenPath, "--detached",
                ],
                WorkingDir = WorkspacePath,
                Env =
                [
                    new V1EnvVar { Name = "TMPDIR", Value = "/tmp" },
                    new V1EnvVar { Name = "DOTNET_CLI_TELEMETRY_OPTOUT", Value = "1" },
                ],
                Resources = new V1ResourceRequirements { Requests = Quantities(Options.Requests), Limits = Quantities(Options.Limits) },
                SecurityContext = new V1SecurityContext
                {
                    RunAsNonRoot = true,
                    AllowPrivilegeEscalation = false,
                    Privileged = false,
                    ReadOnlyRootFilesystem = true,
                    Capabilities = new V1Capabilities { Drop = ["ALL"] },
                },
                VolumeMounts =
                [
                    new V1VolumeMount { Name = "workspace", MountPath = WorkspacePath },
                    .. SharedCache ? [new V1VolumeMount { Name = "cache", MountPath = CachePath }] : Array.Empty<V1VolumeMount>(),
                    new V1VolumeMount { Name = "token", MountPath = TokenDirectory, ReadOnlyProperty = true },
                    new V1VolumeMount { Name = "tmp", MountPath = "/tmp" },
                ],
            },
        ],
        Volumes =
        [
            // Local scratch disk of the node: builds never contend for a shared volume's IOPS.
            new V1Volume { Name = "workspace", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity(Options.WorkspaceSizeLimit) } },
            .. SharedCache ? [new V1Volume { Name = "cache", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = Options.CacheClaimName } }] : Array.Empty<V1Volume>(),
            new V1Volume
            {
                Name = "token",
                Secret = new V1SecretVolumeSource
                {
                    SecretName = SecretName(launch.BuildId, launch.Attempt),
                    DefaultMode = 0x120, // 0440: the runner's group (fsGroup) reads it, nobody writes it
                    Items = [new V1KeyToPath { Key = TokenKey, Path = TokenKey }],
                },
            },
            new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("1Gi") } },
        ],
    };

    private static Dictionary<string, ResourceQuantity>? Quantities(ResourceSettings settings)
    {
        var quantities = new Dictionary<string, ResourceQuantity>(StringComparer.Ordinal);
        Add("cpu", settings.Cpu);
        Add("memory", settings.Memory);
        Add("ephemeral-storage", settings.EphemeralStorage);
        return quantities.Count == 0 ? null : quantities;

        void Add(string name, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                quantities[name] = new ResourceQuantity(value);
            }
        }
    }

    /// <summary>The Secret and the Job as one YAML document stream, as `kubectl apply -f` takes them.</summary>
    public string RenderYaml(BuildLaunch launch) =>
        $"{KubernetesYaml.Serialize(Secret(launch)).TrimEnd()}\n---\n{KubernetesYaml.Serialize(Job(launch)).TrimEnd()}\n";

    [GeneratedRegex(@"\A(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\z")]
    private static partial Regex LabelValuePattern();
}
