using System.Globalization;
using AutoBuilder.Core.Execution;
using k8s.Models;

namespace AutoBuilder.Server.Executors.Kubernetes;

/// <summary>
/// Reads what Kubernetes says about a build's Job and pod into an <see cref="ExecutionExit"/> with a reason an
/// operator understands: OOMKilled, eviction (ephemeral storage), the Job's deadline, image pulls, scheduling.
/// Null while the build still runs (or waits, within its patience for scheduling).
/// </summary>
public static class JobOutcome
{
    private static readonly HashSet<string> ImagePullFailures = new(StringComparer.Ordinal)
    {
        "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable",
    };

    /// <summary>What a pod shows while it waits: "unschedulable" (with Kubernetes' message) or null.</summary>
    public static string? Unschedulable(V1Pod pod) =>
        pod?.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled" && c.Status == "False" && c.Reason == "Unschedulable") is { } condition
            ? condition.Message ?? "Unschedulable"
            : null;

    /// <summary>
    /// Patience with a pod no node takes. <paramref name="pendingSince"/> is when the caller first saw it unschedulable
    /// (null: not yet); the answer gives the value to keep for the next look, and the end of the attempt once the pod
    /// has waited <paramref name="maxPendingTime"/> (an infrastructure failure, so retried).
    /// </summary>
    public static (ExecutionExit? GaveUp, DateTimeOffset? PendingSince) WaitForScheduling(IReadOnlyList<V1Pod> pods, DateTimeOffset? pendingSince, DateTimeOffset now, TimeSpan maxPendingTime)
    {
        ArgumentNullException.ThrowIfNull(pods);
        var waiting = pods.Select(Unschedulable).FirstOrDefault(m => m is not null);
        if (waiting is null)
        {
            return (null, null);
        }

        var since = pendingSince ?? now;
        return now - since < maxPendingTime
            ? (null, since)
            : (new ExecutionExit(null, $"no node could take the build for {maxPendingTime}: {waiting}"), since);
    }

    /// <summary>Whether Kubernetes itself has ended the attempt (the Job finished, or its pod did).</summary>
    public static bool HasEnded(V1Job job, IReadOnlyList<V1Pod> pods) =>
        job?.Status?.Conditions?.Any(c => c.Type is "Complete" or "Failed" && c.Status == "True") == true
        || pods?.Any(p => p.Status?.Phase is "Succeeded" or "Failed") == true;

    /// <summary>The end of the attempt, or null while it goes on.</summary>
    public static ExecutionExit? Evaluate(V1Job job, IReadOnlyList<V1Pod> pods, KubernetesExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(options);

        var failed = job.Status?.Conditions?.FirstOrDefault(c => c.Type == "Failed" && c.Status == "True");
        if (failed?.Reason == "DeadlineExceeded")
        {
            return new ExecutionExit(null,
                $"Kubernetes stopped the build at its deadline (activeDeadlineSeconds {job.Spec?.ActiveDeadlineSeconds?.ToString(CultureInfo.InvariantCulture) ?? "?"}): {failed.Message ?? "DeadlineExceeded"}",
                TimedOut: true);
        }

        foreach (var pod in pods.OrderByDescending(p => p.Metadata?.CreationTimestamp ?? DateTime.MinValue))
        {
            if (FromPod(pod, options) is { } exit)
            {
                return exit;
            }
        }

        if (job.Status?.Conditions?.Any(c => c.Type == "Complete" && c.Status == "True") == true)
        {
            return new ExecutionExit(0, null);
        }

        if (failed is not null)
        {
            return new ExecutionExit(null, $"the Job failed: {failed.Reason}: {failed.Message}");
        }

        return null;
    }

    private static ExecutionExit? FromPod(V1Pod pod, KubernetesExecutorOptions options)
    {
        var status = pod.Status;
        if (status is null)
        {
            return null;
        }

        if (status.Reason == "Evicted")
        {
            var message = status.Message ?? "Evicted";
            // Over its own disk limit the build fails for good; a node under pressure is the infrastructure's fault.
            return message.Contains("ephemeral", StringComparison.OrdinalIgnoreCase)
                ? new ExecutionExit(null, $"the build used more local disk than its limit (ephemeral-storage {options.Limits.EphemeralStorage ?? "?"}, workspace {options.WorkspaceSizeLimit}) and Kubernetes evicted its pod: {message}", Retryable: false)
                : new ExecutionExit(null, $"Kubernetes evicted the build's pod from its node: {message}");
        }

        var container = status.ContainerStatuses?.FirstOrDefault(c => c.Name == BuildJobFactory.ContainerName);
        if (container?.State?.Terminated is { } terminated)
        {
            if (terminated.Reason == "OOMKilled")
            {
                return new ExecutionExit(terminated.ExitCode,
                    $"the build ran out of memory: Kubernetes killed it at its memory limit ({options.Limits.Memory ?? "?"}) (OOMKilled)", Retryable: false);
            }

            if (status.Phase is "Succeeded" or "Failed")
            {
                return new ExecutionExit(terminated.ExitCode, terminated.ExitCode == 0 ? null : Describe(terminated));
            }
        }

        if (container?.State?.Waiting is { } waiting)
        {
            if (waiting.Reason is not null && ImagePullFailures.Contains(waiting.Reason))
            {
                return new ExecutionExit(null, $"the runner image '{container.Image}' could not be pulled: {waiting.Reason}: {waiting.Message}");
            }

            if (waiting.Reason == "CreateContainerConfigError")
            {
                return new ExecutionExit(null, $"the build's container could not be configured: {waiting.Message}");
            }
        }

        if (status.Phase == "Failed")
        {
            return new ExecutionExit(null, $"the build's pod failed: {status.Reason}: {status.Message}");
        }

        return null;
    }

    private static string Describe(V1ContainerStateTerminated terminated) =>
        string.Join(": ", new[] { terminated.Reason, terminated.Message }.Where(s => !string.IsNullOrWhiteSpace(s)));
}
