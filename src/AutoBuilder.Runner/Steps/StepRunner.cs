using System.Globalization;
using AutoBuilder.Core.Builds;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Steps;

/// <summary>Runs one step's command within a time limit (the same workspace, sandbox and environment for every step).</summary>
public delegate Task<BuildProcessResult> StepCommand(string command, TimeSpan timeout, CancellationToken cancellationToken);

/// <summary>How the steps ended, as the build's outcome.</summary>
/// <param name="ExitCode">The last step that ran: its exit code (null when it was killed on a timeout).</param>
/// <param name="SandboxFailed">The sandbox never started a step's command (bwrap's reason is in the log).</param>
public sealed record StepsOutcome(BuildOutcome Outcome, int? ExitCode, string? Error, bool SandboxFailed = false);

/// <summary>
/// Runs a build's steps in order until one fails (docs/ARCHITECTURE.md, "Build steps"): each within its own timeout and
/// what is left of the build's, marked in the log by section lines (<see cref="BuildSteps"/>), and reported to the API
/// when the steps are known and as each starts and ends, so a running build shows which step it is in.
/// </summary>
public sealed class StepRunner(
    IReadOnlyList<StepDefinition> definitions,
    Func<string, CancellationToken, ValueTask> log,
    Func<IReadOnlyList<BuildStep>, CancellationToken, Task> report,
    TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly BuildStep[] _steps = [.. definitions.Select(d => new BuildStep(d.Name, StepStatus.Pending))];
    private long _stepStarted;

    /// <summary>Every step as it stands now, in order.</summary>
    public IReadOnlyList<BuildStep> Steps => [.. _steps];

    /// <summary>
    /// Runs the steps. <paramref name="runToken"/> stops the command that runs (quota, heartbeat, cancel); log lines and
    /// reports go out under <paramref name="cancellationToken"/>. An exception from a step's command leaves that step
    /// running: the caller says how it ended with <see cref="InterruptAsync"/>.
    /// </summary>
    public async Task<StepsOutcome> RunAsync(TimeSpan timeout, StepCommand run, CancellationToken runToken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var buildStarted = _time.GetTimestamp();
        var count = _steps.Length;
        StepsOutcome? outcome = null;
        for (var i = 0; i < count; i++)
        {
            var definition = definitions[i];
            var remaining = timeout - _time.GetElapsedTime(buildStarted);
            if (remaining <= TimeSpan.Zero)
            {
                // The build's time ran out exactly between two steps: this one never starts.
                _steps[i] = _steps[i] with { Status = StepStatus.TimedOut, StartedAt = _time.GetUtcNow(), DurationSeconds = 0 };
                await log(BuildSteps.EndedLine(i, count, _steps[i]), cancellationToken).ConfigureAwait(false);
                outcome = new StepsOutcome(BuildOutcome.TimedOut, null, $"build timed out after {BuildProcess.Describe(timeout)}");
                break;
            }

            var ownLimit = definition.Timeout is { } own && own < remaining;
            var limit = ownLimit ? definition.Timeout!.Value : remaining;
            _stepStarted = _time.GetTimestamp();
            _steps[i] = _steps[i] with { Status = StepStatus.Running, StartedAt = _time.GetUtcNow() };
            await report(Steps, cancellationToken).ConfigureAwait(false);
            await log(BuildSteps.StartedLine(i, count, definition.Name), cancellationToken).ConfigureAwait(false);
            if (count > 1)
            {
                // What the step runs, one log line per line of it (the single command is on the toolchain line already).
                foreach (var line in definition.Run.TrimEnd().Split('\n'))
                {
                    await log("$ " + line.TrimEnd('\r'), cancellationToken).ConfigureAwait(false);
                }
            }


            var result = await run(definition.Run, limit, runToken).ConfigureAwait(false);

            var status = result switch
            {
                { SandboxFailed: true } => StepStatus.Failed,
                { TimedOut: true } => StepStatus.TimedOut,
                { ExitCode: 0 } => StepStatus.Succeeded,
                _ => StepStatus.Failed,
            };
            _steps[i] = _steps[i] with { Status = status, ExitCode = result.ExitCode, DurationSeconds = Elapsed() };
            await log(BuildSteps.EndedLine(i, count, _steps[i]), cancellationToken).ConfigureAwait(false);
            if (status == StepStatus.Succeeded)
            {
                continue;
            }

            outcome = status switch
            {
                _ when result.SandboxFailed => new StepsOutcome(BuildOutcome.Failed, result.ExitCode, null, SandboxFailed: true),
                StepStatus.TimedOut when ownLimit => new StepsOutcome(BuildOutcome.TimedOut, result.ExitCode,
                    $"{Describe(i, count, definition.Name)} timed out after {BuildProcess.Describe(limit)}"),
                StepStatus.TimedOut => new StepsOutcome(BuildOutcome.TimedOut, result.ExitCode, $"build timed out after {BuildProcess.Describe(timeout)}"),
                _ => new StepsOutcome(BuildOutcome.Failed, result.ExitCode, count == 1
                    ? string.Create(CultureInfo.InvariantCulture, $"build command exited with code {result.ExitCode}")
                    : string.Create(CultureInfo.InvariantCulture, $"{Describe(i, count, definition.Name)} exited with code {result.ExitCode}")),
            };
            break;
        }

        await SkipRestAsync(cancellationToken).ConfigureAwait(false);
        await report(Steps, cancellationToken).ConfigureAwait(false);
        return outcome ?? new StepsOutcome(BuildOutcome.Succeeded, _steps.Length > 0 ? _steps[^1].ExitCode : null, null);
    }

    /// <summary>
    /// Ends the step a failure outside it interrupted (the workspace quota, the build's network) with <paramref name="status"/>
    /// and skips the rest; the log says so. The complete report carries the result.
    /// </summary>
    public async Task InterruptAsync(StepStatus status, CancellationToken cancellationToken)
    {
        var count = _steps.Length;
        for (var i = 0; i < count; i++)
        {
            if (_steps[i].Status == StepStatus.Running)
            {
                _steps[i] = _steps[i] with { Status = status, DurationSeconds = Elapsed() };
                await log(BuildSteps.EndedLine(i, count, _steps[i]), cancellationToken).ConfigureAwait(false);
            }
        }

        await SkipRestAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task SkipRestAsync(CancellationToken cancellationToken)
    {
        var count = _steps.Length;
        for (var i = 0; i < count; i++)
        {
            if (_steps[i].Status == StepStatus.Pending)
            {
                _steps[i] = _steps[i] with { Status = StepStatus.Skipped };
                await log(BuildSteps.SkippedLine(i, count, _steps[i].Name), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private double Elapsed() => Math.Round(_time.GetElapsedTime(_stepStarted).TotalSeconds, 3);

    private static string Describe(int index, int count, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"step {index + 1}/{count} '{name}'");
}
