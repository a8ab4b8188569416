using AutoBuilder.Core.Execution;
using AutoBuilder.Server.Executors.Kubernetes;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Server.Tests.Executors;

/// <summary>
/// <see cref="JobOutcome"/> as tables: what Kubernetes shows about a build's Job and pods, and the end of the attempt
/// it means (or none while the build goes on), the way the executor reads them.
/// </summary>
public sealed class JobOutcomeTests
{
    private static readonly KubernetesExecutorOptions Options = new();
    private static readonly DateTime Earlier = new(2026, 11, 30, 8, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime Later = Earlier.AddMinutes(1);

    /// <summary>An expected end: exit code, a part of the error (null: no error), and the two flags the dispatcher reads.</summary>
    private sealed record End(int? ExitCode, string? ErrorPart, bool TimedOut = false, bool Retryable = true);

    private static readonly Dictionary<string, (V1Job Job, V1Pod[] Pods, End? Expected)> Evaluations = new()
    {
        ["pod pending: goes on"] = (Job(), [Pod("Pending")], null),
        ["pod running: goes on"] = (Job(), [Pod("Running", running: true)], null),
        ["no pod yet: goes on"] = (Job(), [], null),
        ["pod without a status: goes on"] = (Job(), [new V1Pod { Metadata = new V1ObjectMeta { Name = "p" } }], null),
        ["pod succeeded, runner exited 0"] = (Job(), [Pod("Succeeded", exitCode: 0)], new End(0, null)),
        ["pod failed, runner exited 1: retryable, with reason and message"] = (Job(), [Pod("Failed", exitCode: 1, terminatedReason: "Error", terminatedMessage: "boom")], new End(1, "Error: boom")),
        ["pod failed, runner exited 3 without a reason"] = (Job(), [Pod("Failed", exitCode: 3)], new End(3, "")),
        ["container terminated but pod not finished yet: goes on"] = (Job(), [Pod("Running", exitCode: 1)], null),
        ["OOMKilled: the build's own fault, not retried"] = (Job(), [Pod("Failed", exitCode: 137, terminatedReason: "OOMKilled")], new End(137, "ran out of memory: Kubernetes killed it at its memory limit (4Gi) (OOMKilled)", Retryable: false)),
        ["OOMKilled is read before the pod finishes"] = (Job(), [Pod("Running", exitCode: 137, terminatedReason: "OOMKilled")], new End(137, "(OOMKilled)", Retryable: false)),
        ["evicted over its ephemeral storage: the build's own fault"] = (Job(), [Pod("Failed", reason: "Evicted", message: "Pod ephemeral local storage usage exceeds the total limit of containers 20Gi.")], new End(null, "used more local disk than its limit (ephemeral-storage 20Gi, workspace 20Gi)", Retryable: false)),
        ["evicted for node pressure: retryable"] = (Job(), [Pod("Failed", reason: "Evicted", message: "The node was low on resource: memory.")], new End(null, "evicted the build's pod from its node: The node was low on resource: memory.")),
        ["image cannot be pulled"] = (Job(), [Pod("Pending", waitingReason: "ImagePullBackOff", waitingMessage: "Back-off pulling image")], new End(null, "the runner image 'autobuilder/runner:latest' could not be pulled: ImagePullBackOff: Back-off pulling image")),
        ["invalid image name"] = (Job(), [Pod("Pending", waitingReason: "InvalidImageName", waitingMessage: "bad")], new End(null, "could not be pulled: InvalidImageName")),
        ["container cannot be configured"] = (Job(), [Pod("Pending", waitingReason: "CreateContainerConfigError", waitingMessage: "secret not found")], new End(null, "could not be configured: secret not found")),
        ["waiting for another reason: goes on"] = (Job(), [Pod("Pending", waitingReason: "ContainerCreating")], null),
        ["pod failed without a container status"] = (Job(), [Pod("Failed", reason: "UnexpectedAdmissionError", message: "no")], new End(null, "the build's pod failed: UnexpectedAdmissionError: no")),
        ["Job deadline: timed out, before anything a pod says"] = (Job("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"), [Pod("Failed", exitCode: 137, terminatedReason: "OOMKilled")], new End(null, "Kubernetes stopped the build at its deadline (activeDeadlineSeconds 600): Job was active longer than specified deadline", TimedOut: true)),
        ["Job complete, pods gone"] = (Job("Complete"), [], new End(0, null)),
        ["Job failed otherwise, pods gone"] = (Job("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"), [], new End(null, "the Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit")),
        ["a condition that is not true does not count"] = (Job("Complete", status: "False"), [Pod("Running", running: true)], null),
        ["the newest pod that says something decides"] = (Job(), [Pod("Failed", exitCode: 1, created: Earlier), Pod("Failed", exitCode: 137, terminatedReason: "OOMKilled", created: Later)], new End(137, "OOMKilled", Retryable: false)),
        ["a newer pod that says nothing leaves it to the older one"] = (Job(), [Pod("Failed", exitCode: 1, created: Earlier), Pod("Running", running: true, created: Later)], new End(1, "")),
    };

    public static TheoryData<string> EvaluationNames => [.. Evaluations.Keys];

    [Theory]
    [MemberData(nameof(EvaluationNames))]
    public void Evaluate_ReadsTheEndOfTheAttempt(string name)
    {
        var (job, pods, expected) = Evaluations[name];

        var exit = JobOutcome.Evaluate(job, pods, Options);

        if (expected is null)
        {
            Assert.Null(exit);
            return;
        }

        Assert.NotNull(exit);
        Assert.Equal((expected.ExitCode, expected.TimedOut, expected.Retryable), (exit.ExitCode, exit.TimedOut, exit.Retryable));
        if (expected.ErrorPart is null)
        {
            Assert.Null(exit.Error);
        }
        else
        {
            Assert.Contains(expected.ErrorPart, exit.Error ?? "", StringComparison.Ordinal);
        }
    }

    public static TheoryData<string, string?, string?, bool> Endings => new()
    {
        { "nothing yet", null, "Running", false },
        { "Job complete", "Complete", "Running", true },
        { "Job failed", "Failed", "Pending", true },
        { "pod succeeded", null, "Succeeded", true },
        { "pod failed", null, "Failed", true },
        { "pod waiting", null, "Pending", false },
    };

    /// <summary>Whether Kubernetes ended the attempt itself, or the executor must delete the Job after giving up on a waiting pod.</summary>
    [Theory]
    [MemberData(nameof(Endings))]
    public void HasEnded_WhenTheJobOrAPodFinished(string rule, string? jobCondition, string? podPhase, bool ended)
    {
        Assert.True(ended == JobOutcome.HasEnded(Job(jobCondition), [Pod(podPhase)]), rule);
    }

    [Theory]
    [InlineData("PodScheduled", "False", "Unschedulable", "0/3 nodes are available", "0/3 nodes are available")]
    [InlineData("PodScheduled", "False", "Unschedulable", null, "Unschedulable")]
    [InlineData("PodScheduled", "True", null, null, null)]
    [InlineData("PodScheduled", "False", "SchedulingGated", "gated", null)]
    [InlineData("Ready", "False", "Unschedulable", "x", null)]
    public void Unschedulable_ReadsThePodScheduledCondition(string type, string status, string? reason, string? message, string? expected)
    {
        var pod = Pod("Pending");
        pod.Status.Conditions = [new V1PodCondition { Type = type, Status = status, Reason = reason, Message = message }];

        Assert.Equal(expected, JobOutcome.Unschedulable(pod));
    }

    /// <summary>
    /// Looks at a pod that waits for a node, one look per row on a fake clock, with Kubernetes:MaxPendingTime 10 min:
    /// patience counts from the first look that saw it unschedulable and starts again once it was scheduled.
    /// </summary>
    [Fact]
    public void WaitForScheduling_GivesUpAfterMaxPendingTime_CountedFromTheFirstUnschedulableLook()
    {
        var time = new FakeTimeProvider();
        var maxPending = TimeSpan.FromMinutes(10);
        (int MinutesLater, bool Unschedulable, bool GivesUp)[] looks =
        [
            (0, true, false),   // first seen waiting: patience starts
            (9, true, false),
            (1, false, false),  // scheduled after all: patience resets
            (1, true, false),   // waiting again: starts again
            (9, true, false),
            (1, true, true),    // 10 min since the wait began
        ];
        DateTimeOffset? pendingSince = null;
        foreach (var (minutesLater, unschedulable, givesUp) in looks)
        {
            time.Advance(TimeSpan.FromMinutes(minutesLater));
            var pod = Pod("Pending");
            if (unschedulable)
            {
                pod.Status.Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes are available" }];
            }

            (var gaveUp, pendingSince) = JobOutcome.WaitForScheduling([pod], pendingSince, time.GetUtcNow(), maxPending);

            Assert.Equal(givesUp, gaveUp is not null);
            Assert.Equal(unschedulable, pendingSince is not null);
            if (gaveUp is not null)
            {
                Assert.Equal(new ExecutionExit(null, "no node could take the build for 00:10:00: 0/3 nodes are available"), gaveUp);
            }
        }
    }

    private static V1Job Job(string? condition = null, string? reason = null, string? message = null, string status = "True") => new()
    {
        Metadata = new V1ObjectMeta { Name = "autobuilder-build-1" },
        Spec = new V1JobSpec { ActiveDeadlineSeconds = 600, Template = new V1PodTemplateSpec() },
        Status = new V1JobStatus
        {
            Conditions = condition is null ? null : [new V1JobCondition { Type = condition, Status = status, Reason = reason, Message = message }],
        },
    };

    private static V1Pod Pod(
        string? phase,
        string? reason = null,
        string? message = null,
        int? exitCode = null,
        string? terminatedReason = null,
        string? terminatedMessage = null,
        string? waitingReason = null,
        string? waitingMessage = null,
        bool running = false,
        DateTime? created = null)
    {
        V1ContainerState? state = exitCode is { } code ? new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = code, Reason = terminatedReason, Message = terminatedMessage } }
            : waitingReason is not null ? new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = waitingReason, Message = waitingMessage } }
            : running ? new V1ContainerState { Running = new V1ContainerStateRunning() }
            : null;
        return new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = $"pod-{created?.Ticks ?? 0}", CreationTimestamp = created ?? Earlier },
            Status = new V1PodStatus
            {
                Phase = phase,
                Reason = reason,
                Message = message,
                ContainerStatuses = state is null ? null : [new V1ContainerStatus { Name = BuildJobFactory.ContainerName, Image = "autobuilder/runner:latest", State = state }],
            },
        };
    }
}
