using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Execution;
using AutoBuilder.Server.Dispatching;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Server.Tests.Dispatching;

/// <summary><see cref="AttemptOutcomePolicy"/> as tables: each tick's check on a fake clock, what a runner's end means, and the retry decision.</summary>
public sealed class AttemptOutcomePolicyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// An attempt claimed at t0 with its deadline at t0 + 10 min, checked <paramref name="secondsAfterClaim"/> later.
    /// <paramref name="attemptMoved"/>: the row is at a later attempt. <paramref name="completedSeenSecondsEarlier"/>: a
    /// tick saw the build no longer running at this attempt that long before (-1: never).
    /// </summary>
    [Theory]
    [InlineData(BuildStatus.Running, false, 60, -1, AttemptCheck.KeepRunning)]
    [InlineData(BuildStatus.Running, false, 600, -1, AttemptCheck.KeepRunning)] // at the deadline, not past it
    [InlineData(BuildStatus.Running, false, 601, -1, AttemptCheck.StopTimedOut)]
    [InlineData(BuildStatus.Cancelled, false, 60, -1, AttemptCheck.StopCancelled)]
    [InlineData(BuildStatus.Cancelled, false, 601, -1, AttemptCheck.StopCancelled)] // cancel wins over the deadline
    [InlineData(BuildStatus.Cancelled, true, 60, -1, AttemptCheck.AwaitExit)] // a later attempt was cancelled: not ours
    [InlineData(BuildStatus.Running, true, 601, -1, AttemptCheck.AwaitExit)] // retried and claimed again elsewhere
    [InlineData(BuildStatus.Queued, true, 60, -1, AttemptCheck.AwaitExit)]
    [InlineData(BuildStatus.Succeeded, false, 60, -1, AttemptCheck.AwaitExit)]
    [InlineData(BuildStatus.Succeeded, false, 60, 30, AttemptCheck.AwaitExit)]
    [InlineData(BuildStatus.Failed, false, 60, 31, AttemptCheck.StopLingering)]
    [InlineData(BuildStatus.TimedOut, false, 9000, 3600, AttemptCheck.StopLingering)]
    public void Check_DecidesEachTick(BuildStatus status, bool attemptMoved, int secondsAfterClaim, int completedSeenSecondsEarlier, AttemptCheck expected)
    {
        var time = new FakeTimeProvider();
        var deadline = time.GetUtcNow() + Timeout;
        time.Advance(TimeSpan.FromSeconds(secondsAfterClaim));
        var now = time.GetUtcNow();
        DateTimeOffset? completedSeenAt = completedSeenSecondsEarlier < 0 ? null : now - TimeSpan.FromSeconds(completedSeenSecondsEarlier);

        Assert.Equal(expected, AttemptOutcomePolicy.Check(status, attemptMoved ? 3 : 2, 2, deadline, completedSeenAt, now));
    }

    /// <summary>A runner that completed is given <see cref="AttemptOutcomePolicy.LingerLimit"/> to exit, counted from the first tick that saw it.</summary>
    [Fact]
    public void Check_StopsARunnerThatLingersPastTheLimitAfterCompleting()
    {
        var time = new FakeTimeProvider();
        var deadline = time.GetUtcNow() + Timeout;
        DateTimeOffset? completedSeenAt = null;
        var checks = new List<AttemptCheck>();
        for (var tick = 0; tick < 4; tick++)
        {
            var now = time.GetUtcNow();
            var check = AttemptOutcomePolicy.Check(BuildStatus.Succeeded, 1, 1, deadline, completedSeenAt, now);
            completedSeenAt ??= now; // what the dispatcher records
            checks.Add(check);
            time.Advance(TimeSpan.FromSeconds(20));
        }

        Assert.Equal([AttemptCheck.AwaitExit, AttemptCheck.AwaitExit, AttemptCheck.StopLingering, AttemptCheck.StopLingering], checks);
    }

    public static TheoryData<string, AttemptStop?, ExecutionExit, int, AttemptOutcome> Exits => new()
    {
        {
            "detached: the Job runs on for the next dispatcher",
            AttemptStop.Detached, new ExecutionExit(null, "no longer followed"), 1,
            new AttemptOutcome.LeftRunning()
        },
        {
            "stopped at the dispatcher's deadline",
            AttemptStop.TimedOut, new ExecutionExit(137, null), 1,
            new AttemptOutcome.Ended(BuildStatus.TimedOut, "the build exceeded its time limit and its runner was killed", "[autobuilder] the build exceeded its time limit and its runner was killed")
        },
        {
            "shutdown hands the build back without counting a retry, even on the last attempt",
            AttemptStop.Shutdown, new ExecutionExit(2, null), 3,
            new AttemptOutcome.Requeued("requeued: the server shut down while the build ran", IsRetry: false)
        },
        {
            "platform deadline (Job DeadlineExceeded) with its reason",
            null, new ExecutionExit(null, "Kubernetes stopped the build", TimedOut: true), 1,
            new AttemptOutcome.Ended(BuildStatus.TimedOut, "Kubernetes stopped the build", "[autobuilder] Kubernetes stopped the build")
        },
        {
            "platform deadline without a reason",
            null, new ExecutionExit(null, null, TimedOut: true), 1,
            new AttemptOutcome.Ended(BuildStatus.TimedOut, "the build exceeded its time limit and its runner was stopped", "[autobuilder] the build exceeded its time limit and its runner was stopped")
        },
        {
            "the build's own resource use (OOMKilled) is not retried",
            null, new ExecutionExit(137, "the build ran out of memory", Retryable: false), 1,
            new AttemptOutcome.Ended(BuildStatus.Failed, "the build ran out of memory", "[autobuilder] the build ran out of memory")
        },
        {
            "the build's own resource use without a reason",
            null, new ExecutionExit(null, null, Retryable: false), 1,
            new AttemptOutcome.Ended(BuildStatus.Failed, "the runner was stopped because of the build's own resource use", "[autobuilder] the runner was stopped because of the build's own resource use")
        },
        {
            "runner exited non-zero: retried",
            null, new ExecutionExit(1, null), 1,
            new AttemptOutcome.Requeued("attempt 1 failed: the runner exited with code 1 before completing the build; retrying", IsRetry: true)
        },
        {
            "runner exited with a reason: retried, with the reason",
            null, new ExecutionExit(1, "spec: 503"), 2,
            new AttemptOutcome.Requeued("attempt 2 failed: the runner exited with code 1 before completing the build: spec: 503; retrying", IsRetry: true)
        },
        {
            "runner vanished without an exit code, on the last attempt: failed",
            null, new ExecutionExit(null, null), 3,
            new AttemptOutcome.Ended(BuildStatus.Failed,
                "the runner exited with code ? before completing the build (gave up after 3 attempts)",
                "[autobuilder] build failed: the runner exited with code ? before completing the build (gave up after 3 attempts)")
        },
        {
            "stopped for a cancel, yet still running (a race): an infrastructure failure",
            AttemptStop.Cancelled, new ExecutionExit(2, null), 1,
            new AttemptOutcome.Requeued("attempt 1 failed: the runner exited with code 2 before completing the build; retrying", IsRetry: true)
        },
        {
            "a timed-out exit after the dispatcher stopped it otherwise counts as the runner's deadline",
            AttemptStop.Lingering, new ExecutionExit(null, null, TimedOut: true), 1,
            new AttemptOutcome.Requeued("attempt 1 failed: the runner exceeded its deadline; retrying", IsRetry: true)
        },
    };

    [Theory]
    [MemberData(nameof(Exits))]
    public void OnExit_MapsHowTheRunnerEnded(string rule, AttemptStop? stop, ExecutionExit exit, int attempt, AttemptOutcome expected)
    {
        var policy = new AttemptOutcomePolicy(maxAttempts: 3);

        Assert.True(expected == policy.OnExit(attempt, stop, exit), rule);
    }

    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(1, 3, true)]
    [InlineData(2, 3, true)]
    [InlineData(3, 3, false)]
    [InlineData(4, 3, false)] // a requeue on shutdown does not check the limit, so a later attempt may pass it
    [InlineData(19, 20, true)]
    public void OnInfrastructureFailure_RetriesWhileAttemptsRemain(int attempt, int maxAttempts, bool retried)
    {
        var outcome = new AttemptOutcomePolicy(maxAttempts).OnInfrastructureFailure(attempt, "the runner was lost");

        AttemptOutcome expected = retried
            ? new AttemptOutcome.Requeued($"attempt {attempt} failed: the runner was lost; retrying", IsRetry: true)
            : new AttemptOutcome.Ended(BuildStatus.Failed, $"the runner was lost (gave up after {attempt} attempts)",
                $"[autobuilder] build failed: the runner was lost (gave up after {attempt} attempts)");
        Assert.Equal(expected, outcome);
    }
}
