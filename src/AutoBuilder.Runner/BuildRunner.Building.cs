using AutoBuilder.Core.Builds;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Steps;

namespace AutoBuilder.Runner;

/// <summary>Building: the steps in the sandbox, as the build user, under the workspace quota and the heartbeat.</summary>
public sealed partial class BuildRunner
{
    private sealed partial class Attempt
    {
        private async Task BuildAsync(Prepared prepared, CancellationToken cancellationToken)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, shipper.Failed);
            RunnerStoppedException? stopped = null;
            using var heartbeatDone = new CancellationTokenSource();
            var heartbeat = HeartbeatAsync(ex =>
            {
                stopped = ex;
                stop.Cancel();
            }, heartbeatDone.Token, cancellationToken);

            var steps = new StepRunner(prepared.Toolchain.StepsToRun, LogAsync, Api.ReportStepsAsync, Time);
            try
            {
                var result = await new WorkspaceQuota(_workspace, spec.MaxWorkspaceBytes, Time).RunAsync(
                    quotaStop => steps.RunAsync(prepared.Timeout, (command, limit, ct) => new BuildProcess(Time).RunAsync(
                        new BuildProcessRequest
                        {
                            Command = command,
                            WorkingDirectory = prepared.SourceRoot,
                            Environment = prepared.Environment,
                            Timeout = limit,
                            Sandbox = prepared.Sandbox,
                            SandboxStatusFile = Path.Combine(_workspace, "sandbox-status.json"),
                            RunAs = prepared.RunAs,
                            Egress = prepared.Egress,
                            Namespaces = prepared.Plan.Namespaces,
                        },
                        (bytes, ct) => shipper.WriteAsync(bytes, ct),
                        ct), quotaStop, cancellationToken), stop.Token).ConfigureAwait(false);

                _exitCode = result.ExitCode;
                if (result.SandboxFailed)
                {
                    Fail("the sandbox (bubblewrap) could not start the build command; bwrap's reason is in the log above. Fix the host, or set the server's Sandbox:Mode=Off to build unsandboxed");
                    await LogAsync(_error!, cancellationToken).ConfigureAwait(false);
                }
                else if (result.Outcome == BuildOutcome.TimedOut)
                {
                    TimeOut(result.Error!);
                    await LogAsync(_error!, cancellationToken).ConfigureAwait(false);
                }
                else if (result.Outcome == BuildOutcome.Failed)
                {
                    Fail(result.Error!);
                }
                else
                {
                    _outcome = BuildOutcome.Succeeded;
                }
            }
            catch (BuildFailureException ex)
            {
                // The workspace grew past Builds:MaxWorkspaceBytes (the group is already killed), or the API refused a steps report.
                Fail(ex.Message);
                await steps.InterruptAsync(StepStatus.Failed, cancellationToken).ConfigureAwait(false);
                await LogAsync(ex.Message, cancellationToken).ConfigureAwait(false);
            }
            catch (SandboxNetworkException ex)
            {
                // The build never started; it does not fall back to another network.
                Fail($"the build's network (Sandbox:Network=Egress) could not be set up: {ex.Message}");
                await steps.InterruptAsync(StepStatus.Failed, cancellationToken).ConfigureAwait(false);
                await LogAsync(_error!, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Stopped by the heartbeat (409, 401/403, API gone) or by a log storage failure; the group is already killed.
                if (stopped is not null)
                {
                    throw stopped;
                }

                Fail($"the build log could not be written to storage: {shipper.Failure?.Message}");
                await steps.InterruptAsync(StepStatus.Failed, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _steps = steps.Steps;
                await heartbeatDone.CancelAsync().ConfigureAwait(false);
                await heartbeat.ConfigureAwait(false);
            }
        }

        /// <summary>Re-reports the building phase periodically; the API's answer is how a cancelled build learns it must stop.</summary>
        private async Task HeartbeatAsync(Action<RunnerStoppedException> onStopped, CancellationToken done, CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(done, cancellationToken);
            try
            {
                while (true)
                {
                    await Task.Delay(runner._startInfo.HeartbeatInterval, Time, linked.Token).ConfigureAwait(false);
                    await Api.ReportPhaseAsync(BuildPhase.Building, linked.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (RunnerStoppedException ex)
            {
                onStopped(ex);
            }
        }
    }
}
