using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;

/// <summary>The API server's checks that matter here (apimachinery's validation): names, labels, a Job's pod template.</summary>
internal static partial class Validation
{
    public static bool IsDnsLabel(string? value) => value is { Length: > 0 and <= 63 } && DnsLabel().IsMatch(value);

    public static bool IsDnsSubdomain(string? value) => value is { Length: > 0 and <= 253 } && DnsSubdomain().IsMatch(value);

    public static bool IsLabelValue(string? value) => value is not null && value.Length <= 63 && LabelValue().IsMatch(value);

    public static bool IsLabelKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        var slash = key.LastIndexOf('/');
        var name = slash < 0 ? key : key[(slash + 1)..];
        return (slash < 0 || IsDnsSubdomain(key[..slash])) && name.Length is > 0 and <= 63 && LabelName().IsMatch(name);
    }

    public static List<string> Validate(IKubernetesObject<V1ObjectMeta> item, string ns)
    {
        var problems = new List<string>();
        var meta = item.Metadata;
        if (meta is null || string.IsNullOrEmpty(meta.Name))
        {
            problems.Add("metadata.name: Required value: name or generateName is required");
            return problems;
        }

        if (meta.NamespaceProperty is { } declared && declared != ns)
        {
            problems.Add($"metadata.namespace: Invalid value: \"{declared}\": does not match the namespace of the request");
        }

        // A Job's name becomes the job-name label of its pods, so it must also be a valid label value (63).
        var nameOk = item is V1Job ? IsDnsLabel(meta.Name) : IsDnsSubdomain(meta.Name);
        if (!nameOk)
        {
            problems.Add($"metadata.name: Invalid value: \"{meta.Name}\": a lowercase RFC 1123 {(item is V1Job ? "label must be no more than 63 characters and" : "subdomain must")} consist of lower case alphanumeric characters, '-' or '.'");
        }

        Labels("metadata.labels", meta.Labels, problems);
        switch (item)
        {
            case V1Job job:
                ValidateJob(job, problems);
                break;
            case V1Secret secret:
                foreach (var key in (secret.Data?.Keys ?? []).Concat(secret.StringData?.Keys ?? []))
                {
                    if (!SecretKey().IsMatch(key))
                    {
                        problems.Add($"data[{key}]: Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
                    }
                }

                break;
        }

        return problems;
    }

    private static void ValidateJob(V1Job job, List<string> problems)
    {
        var template = job.Spec?.Template;
        if (template?.Spec is not { } pod)
        {
            problems.Add("spec.template.spec: Required value");
            return;
        }

        Labels("spec.template.metadata.labels", template.Metadata?.Labels, problems);
        if (pod.RestartPolicy is not ("Never" or "OnFailure"))
        {
            problems.Add($"spec.template.spec.restartPolicy: Unsupported value: \"{pod.RestartPolicy}\": supported values: \"OnFailure\", \"Never\"");
        }

        var volumes = pod.Volumes?.Select(v => v.Name).ToList() ?? [];
        foreach (var volume in volumes.Where(v => !IsDnsLabel(v)))
        {
            problems.Add($"spec.template.spec.volumes: Invalid value: \"{volume}\"");
        }

        if (volumes.Count != volumes.Distinct().Count())
        {
            problems.Add("spec.template.spec.volumes: Duplicate value");
        }

        if (pod.Containers is not { Count: > 0 })
        {
            problems.Add("spec.template.spec.containers: Required value");
            return;
        }

        foreach (var container in pod.Containers)
        {
            if (!IsDnsLabel(container.Name))
            {
                problems.Add($"spec.template.spec.containers.name: Invalid value: \"{container.Name}\"");
            }

            if (string.IsNullOrWhiteSpace(container.Image))
            {
                problems.Add("spec.template.spec.containers.image: Required value");
            }

            foreach (var mount in container.VolumeMounts ?? [])
            {
                if (!volumes.Contains(mount.Name))
                {
                    problems.Add($"spec.template.spec.containers.volumeMounts.name: Not found: \"{mount.Name}\"");
                }

                if (string.IsNullOrEmpty(mount.MountPath) || !mount.MountPath.StartsWith('/'))
                {
                    problems.Add($"spec.template.spec.containers.volumeMounts.mountPath: Invalid value: \"{mount.MountPath}\"");
                }
            }

            foreach (var env in container.Env ?? [])
            {
                if (string.IsNullOrEmpty(env.Name) || (env.Value is not null && env.ValueFrom is not null))
                {
                    problems.Add($"spec.template.spec.containers.env: Invalid value: \"{env.Name}\"");
                }
            }
        }
    }

    private static void Labels(string path, IDictionary<string, string>? labels, List<string> problems)
    {
        foreach (var (key, value) in labels ?? new Dictionary<string, string>())
        {
            if (!IsLabelKey(key))
            {
                problems.Add($"{path}: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.'");
            }

            if (!IsLabelValue(value))
            {
                problems.Add($"{path}: Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters");
            }
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex LabelName();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex SecretKey();
}
