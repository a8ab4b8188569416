using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Logs;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;
using AutoBuilder.Runner.Staging;
using AutoBuilder.Runner.Tooling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoBuilder.Runner;

/// <summary>
/// Runs one build attempt end to end: spec → staging → building → publishing → complete
/// (docs/ARCHITECTURE.md, "Runner protocol"). Returns one of <see cref="RunnerExitCodes"/>.
/// </summary>
public sealed partial class BuildRunner
{
    private readonly RunnerStartInfo _startInfo;
    private readonly RunnerApiClient _api;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    public BuildRunner(RunnerStartInfo startInfo, HttpClient httpClient, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _startInfo = startInfo ?? throw new ArgumentNullException(nameof(startInfo));
        ArgumentNullException.ThrowIfNull(httpClient);
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _api = new RunnerApiClient(httpClient, startInfo.ApiUrl, startInfo.BuildId, startInfo.Token, _logger, _timeProvider);
    }

    /// <summary>
    /// For a runner that is a process of its own: the build runs under our uid, and without this it could read the
    /// token from /proc/PID/mem. (It does not stop root or CAP_SYS_PTRACE; a separate build user is the real boundary.)
    /// </summary>
    public static void ProtectProcessMemory()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = NativeMethods.Prctl(NativeMethods.PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
    }

    /// <summary>0 when the build's end was reported (whatever its outcome); non-zero when the runner failed or was stopped.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken = default)
    {
        RunnerSpec spec;
        try
        {
            spec = await _api.GetSpecAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RunnerStoppedException ex)
        {
            _logger.LogError("Runner stopped: {Reason}", ex.Message);
            return ex.ExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return RunnerExitCodes.Cancelled;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or NotSupportedException)
        {
            _logger.LogError(ex, "The API returned an unreadable spec");
            return RunnerExitCodes.InfrastructureFailure;
        }

        var shipper = new LogShipper((batch, ct) => _api.AppendLogAsync(spec.LogAppendUrl, batch, ct), _timeProvider, spec.MaxLogBytes, RegistrySecrets.Of(spec.Toolchains));
        await using (shipper.ConfigureAwait(false))
        {
            try
            {
                await new Attempt(this, spec, shipper).RunAsync(cancellationToken).ConfigureAwait(false);
                return RunnerExitCodes.Completed;
            }
            catch (RunnerStoppedException ex)
            {
                _logger.LogError("Runner stopped: {Reason}", ex.Message);
                await TryLogAsync(shipper, $"runner stopped: {ex.Message}").ConfigureAwait(false);
                return ex.ExitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning("Runner cancelled; the build was stopped");
                await TryLogAsync(shipper, "runner cancelled: the build was stopped").ConfigureAwait(false);
                return RunnerExitCodes.Cancelled;
            }
            catch (Exception ex)
            {
                // Local disk, an unreadable answer, or a bug: the runner's own failure, which the
                // dispatcher retries; the verb gets an exit code rather than an unhandled exception.
                _logger.LogError(ex, "Runner failed");
                await TryLogAsync(shipper, $"runner failed: {ex.Message}").ConfigureAwait(false);
                return RunnerExitCodes.InfrastructureFailure;
            }
        }
    }

    /// <summary>A token cancelled after <paramref name="limit"/> on the runner's clock, or with <paramref name="cancellationToken"/>.</summary>
    private Deadline Bounded(TimeSpan limit, CancellationToken cancellationToken) => new(limit, _timeProvider, cancellationToken);

    private async Task TryLogAsync(LogShipper shipper, string line)
    {
        // Best effort: the attempt is over, the log may be what failed.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _timeProvider);
        try
        {
            await shipper.WriteLineAsync(line, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>What staging made of the plan: the source root, toolchain, version and environment of the command.</summary>
    private sealed record Prepared(AttemptPlan Plan, string SourceRoot, ResolvedToolchain Toolchain, string Version, Dictionary<string, string> Environment)
    {
        /// <summary>bwrap and its options, when the command runs sandboxed.</summary>
        public IReadOnlyList<string>? Sandbox { get; init; }
        /// <summary>The build's own network to the internet (Sandbox:Network=Egress).</summary>
        public EgressNetwork? Egress { get; init; }
        public BuildUser? RunAs => Plan.RunAs;
        public TimeSpan Timeout => Plan.Timeout;
        /// <summary>The build's view without a network, for the tools that read its tree after it (BuildUserTool).</summary>
        public IReadOnlyList<string>? ToolSandbox { get; init; }
    }

    /// <summary>{cache}/projects/{projectId}: each project's own dependency caches.</summary>
    public const string ProjectCacheFolder = "projects";

    /// <summary>The mutable state of one attempt, in one place.</summary>
    private sealed partial class Attempt(BuildRunner runner, RunnerSpec spec, LogShipper shipper)
    {
        private readonly string _workspace = Path.GetFullPath(runner._startInfo.WorkspaceDirectory);
        private BuildOutcome _outcome = BuildOutcome.Failed;
        private string? _error;
        private int? _exitCode;
        private string? _toolchain;
        private string? _command;
        private string? _version;
        private double? _stage;
        private double? _build;
        private IReadOnlyList<FileEntry> _files = [];
        private IReadOnlyList<FileEntry> _artifacts = [];
        /// <summary>The keyed cache to save after a success; null when there is none or the restore was exact.</summary>
        private CachePlan? _cacheToSave;
        /// <summary>The attempt's keyed cache; disposing it unmounts an exact hit's layers.</summary>
        private KeyedCache? _keyed;
        /// <summary>The workspace, opened once when the attempt starts.</summary>
        private AttemptWorkspace? _folders;
        private IReadOnlyList<BuildStep> _steps = [];

        private RunnerApiClient Api => runner._api;
        private TimeProvider Time => runner._timeProvider;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            try
            {
                await RunCoreAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _keyed?.Dispose(); // unmounts the layers of an exact hit (lazily, should a build process linger)
                _folders?.Dispose();
            }
        }

        private async Task RunCoreAsync(CancellationToken cancellationToken)
        {
            _folders = AttemptWorkspace.Open(_workspace);
            await Api.ReportPhaseAsync(BuildPhase.Staging, cancellationToken).ConfigureAwait(false);
            await LogAsync($"build {spec.ProjectId} #{spec.Number} (attempt {spec.Attempt})", cancellationToken).ConfigureAwait(false);

            var started = Time.GetTimestamp();
            Prepared? prepared = null;
            var defaultLimit = AttemptPlan.DefaultPhaseLimit(spec);
            using (var staging = Bounded(defaultLimit, cancellationToken))
            {
                try
                {
                    prepared = await StageAsync(staging.Token).ConfigureAwait(false);
                }
                catch (BuildFailureException ex)
                {
                    Fail(ex.Message);
                    await LogAsync($"staging failed: {ex.Message}", cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    TimeOut($"staging did not finish within {BuildProcess.Describe(defaultLimit)}");
                    await LogAsync(_error!, cancellationToken).ConfigureAwait(false);
                }
            }

            _stage = Seconds(Time.GetElapsedTime(started));
            await LogAsync($"staging took {Describe(_stage)}", cancellationToken).ConfigureAwait(false);

            if (prepared is not null)
            {
                await Api.ReportPhaseAsync(BuildPhase.Building, cancellationToken).ConfigureAwait(false);
                started = Time.GetTimestamp();
                await BuildAsync(prepared, cancellationToken).ConfigureAwait(false);
                _build = Seconds(Time.GetElapsedTime(started));
                await LogAsync($"building took {Describe(_build)}", cancellationToken).ConfigureAwait(false);
            }

            await Api.ReportPhaseAsync(BuildPhase.Publishing, cancellationToken).ConfigureAwait(false);
            started = Time.GetTimestamp();
            var publisher = new OutputPublisher(Api, _workspace, line => LogAsync(line, cancellationToken), Time);
            if (prepared is not null)
            {
                var publishLimit = prepared.Plan.PhaseLimit;
                using var publishing = Bounded(publishLimit, cancellationToken);
                try
                {
                    await PublishOutputsAsync(publisher, prepared, publishLimit, publishing.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    TimeOut($"publishing did not finish within {BuildProcess.Describe(publishLimit)}");
                    _files = [];
                    _artifacts = [];
                    await LogAsync(_error!, cancellationToken).ConfigureAwait(false);
                }

                // Only a success saves, and a save never changes the outcome (its own bound, its own log line).
                if (_outcome == BuildOutcome.Succeeded && _cacheToSave is not null)
                {
                    await Cache.SaveAsync(_cacheToSave, publishLimit, cancellationToken, new BuildUserView(prepared.ToolSandbox, prepared.RunAs)).ConfigureAwait(false);
                }
            }

            var publish = Seconds(Time.GetElapsedTime(started));
            await LogAsync($"publishing took {Describe(publish)}", cancellationToken).ConfigureAwait(false);
            await LogAsync(_error is null ? $"outcome: {Wire(_outcome)}" : $"outcome: {Wire(_outcome)}: {_error}", cancellationToken).ConfigureAwait(false);

            // The log is flushed before result.json and complete, so a storage failure is still reported in them.
            try
            {
                await shipper.CompleteAsync().ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                Fail(ex.Message);
                runner._logger.LogError(ex, "Build log storage failed");
            }

            var durations = new PhaseDurations { Stage = _stage, Build = _build, Publish = publish };
            var report = new CompleteRequest
            {
                Outcome = _outcome,
                ExitCode = _exitCode,
                Error = _error,
                Toolchain = _toolchain,
                Command = _command,
                Version = _version,
                Durations = durations,
                Files = _files,
                Artifacts = _artifacts,
                Steps = _steps,
            };
            await publisher.PublishManifestAsync(BuildManifest.Create(spec, report), cancellationToken).ConfigureAwait(false);
            try
            {
                await Api.CompleteAsync(report, cancellationToken).ConfigureAwait(false);
            }
            catch (BuildFailureException ex)
            {
                // The API refused the report (its version or artifact names): report the build failed, once, with the
                // reason, and without what was refused. A second refusal is the runner's own failure.
                runner._logger.LogError("The API refused the build's completion: {Reason}", ex.Message);
                await Api.CompleteAsync(report with { Outcome = BuildOutcome.Failed, Error = ex.Message, Version = null, Artifacts = [] }, cancellationToken).ConfigureAwait(false);
            }
        }

        private Deadline Bounded(TimeSpan limit, CancellationToken cancellationToken) => runner.Bounded(limit, cancellationToken);

        private void TimeOut(string error)
        {
            _outcome = BuildOutcome.TimedOut;
            _error ??= error;
        }

        private void Fail(string error)
        {
            _outcome = BuildOutcome.Failed;
            _error ??= error;
        }

        private ValueTask LogAsync(string line, CancellationToken cancellationToken)
        {
            runner._logger.LogInformation("{Line}", LogShipper.OwnLineText(line));
            return shipper.WriteLineAsync(line, cancellationToken);
        }

        private static double Seconds(TimeSpan elapsed) => Math.Round(elapsed.TotalSeconds, 3);

        private static string Describe(double? seconds) => BuildProcess.Describe(TimeSpan.FromSeconds(seconds ?? 0));

        private static string Wire(BuildOutcome outcome) => outcome.ToStatus().ToWire();
    }
}
