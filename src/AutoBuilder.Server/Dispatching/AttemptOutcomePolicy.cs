using System.Globalization;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Execution;

namespace AutoBuilder.Server.Dispatching;

/// <summary>Why a dispatcher stopped (or let go of) an attempt it ran.</summary>
public enum AttemptStop
{
    /// <summary>The build was cancelled.</summary>
    Cancelled,

    /// <summary>The attempt passed the dispatcher's deadline.</summary>
    TimedOut,

    /// <summary>The dispatcher shuts down and its runners die with it (local executors).</summary>
    Shutdown,

    /// <summary>The runner completed the build but did not exit.</summary>
    Lingering,

    /// <summary>The dispatcher shuts down and the attempt runs on without it (Kubernetes Jobs); another dispatcher adopts it.</summary>
    Detached,
}

/// <summary>What this tick should do about an attempt the dispatcher runs, given the build's row.</summary>
public enum AttemptCheck
{
    /// <summary>Running at this attempt, within its deadline.</summary>
    KeepRunning,

    /// <summary>Cancelled at this attempt: stop the runner.</summary>
    StopCancelled,

    /// <summary>Past its deadline: stop the runner; the build ends timed out.</summary>
    StopTimedOut,

    /// <summary>Completed (or moved on): the runner exits on its own in a moment.</summary>
    AwaitExit,

    /// <summary>Completed long enough ago that a runner still there is stuck: stop it.</summary>
    StopLingering,
}

/// <summary>What becomes of a build whose runner is gone before it completed the build.</summary>
public abstract record AttemptOutcome
{
    private AttemptOutcome()
    {
    }

    /// <summary>The attempt runs on without this dispatcher: the build stays running, for another dispatcher to adopt.</summary>
    public sealed record LeftRunning : AttemptOutcome;

    /// <summary>The build ends: <paramref name="Error"/> is stored, <paramref name="LogLine"/> appended to its log.</summary>
    public sealed record Ended(BuildStatus Status, string Error, string LogLine) : AttemptOutcome;

    /// <summary>
    /// The build goes back to the queue with <paramref name="Note"/> as its error until its next end. A retry also
    /// counts as one and appends the note to the build's log; a shutdown's requeue does neither.
    /// </summary>
    public sealed record Requeued(string Note, bool IsRetry) : AttemptOutcome;
}

/// <summary>
/// The dispatcher's decisions about one attempt, without I/O: when a running attempt must be stopped, what its end
/// means for the build, and whether an infrastructure failure is retried. Only infrastructure failures are retried
/// (runner exited non-zero or vanished, could not start, was lost), while attempts remain; a build that timed out
/// or broke its own limits ends at once.
/// </summary>
public sealed class AttemptOutcomePolicy(int maxAttempts)
{
    /// <summary>How long a runner that completed its build may take to exit before it is stopped.</summary>
    public static readonly TimeSpan LingerLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The check of one tick. <paramref name="status"/> and <paramref name="currentAttempt"/> are the build's row;
    /// <paramref name="completedSeenAt"/> is when a tick first saw the build no longer running at this attempt (the
    /// caller records <paramref name="now"/> there when the answer is <see cref="AttemptCheck.AwaitExit"/> or
    /// <see cref="AttemptCheck.StopLingering"/> and it has none yet).
    /// </summary>
    public static AttemptCheck Check(BuildStatus status, int currentAttempt, int attempt, DateTimeOffset deadline, DateTimeOffset? completedSeenAt, DateTimeOffset now)
    {
        if (status == BuildStatus.Cancelled && currentAttempt == attempt)
        {
            return AttemptCheck.StopCancelled;
        }

        if (status != BuildStatus.Running || currentAttempt != attempt)
        {
            return now - (completedSeenAt ?? now) > LingerLimit ? AttemptCheck.StopLingering : AttemptCheck.AwaitExit;
        }

        return now > deadline ? AttemptCheck.StopTimedOut : AttemptCheck.KeepRunning;
    }

    /// <summary>The runner of a build still running at <paramref name="attempt"/> is gone; <paramref name="stop"/> says why the dispatcher stopped it, if it did.</summary>
    public AttemptOutcome OnExit(int attempt, AttemptStop? stop, ExecutionExit exit)
    {
        ArgumentNullException.ThrowIfNull(exit);
        switch (stop)
        {
            case AttemptStop.Detached:
                return new AttemptOutcome.LeftRunning();
            case AttemptStop.TimedOut:
                return Ended(BuildStatus.TimedOut, "the build exceeded its time limit and its runner was killed");
            case AttemptStop.Shutdown:
                return new AttemptOutcome.Requeued("requeued: the server shut down while the build ran", IsRetry: false);
            case null when exit.TimedOut:
                return Ended(BuildStatus.TimedOut, exit.Error ?? "the build exceeded its time limit and its runner was stopped");
            case null when !exit.Retryable:
                // The build itself caused the end (out of memory, over its disk limit): another attempt would end alike.
                return Ended(BuildStatus.Failed, exit.Error ?? "the runner was stopped because of the build's own resource use");
            default:
                var reason = exit.TimedOut
                    ? exit.Error ?? "the runner exceeded its deadline"
                    : $"the runner exited with code {exit.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "?"} before completing the build"
                      + (exit.Error is null ? "" : $": {exit.Error}");
                return OnInfrastructureFailure(attempt, reason);
        }
    }

    /// <summary>An infrastructure failure of <paramref name="attempt"/>: queue the build again while attempts remain, else fail it with the reason.</summary>
    public AttemptOutcome OnInfrastructureFailure(int attempt, string reason)
    {
        if (attempt < maxAttempts)
        {
            return new AttemptOutcome.Requeued($"attempt {attempt} failed: {reason}; retrying", IsRetry: true);
        }

        var error = $"{reason} (gave up after {attempt} attempts)";
        return new AttemptOutcome.Ended(BuildStatus.Failed, error, $"[autobuilder] build failed: {error}");
    }

    private static AttemptOutcome.Ended Ended(BuildStatus status, string error) => new(status, error, $"[autobuilder] {error}");
}
