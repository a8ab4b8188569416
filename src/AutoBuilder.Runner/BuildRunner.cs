using System.Globalization;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Logs;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;
using AutoBuilder.Runner.Staging;
using AutoBuilder.Runner.Steps;
using AutoBuilder.Runner.Tooling;
using AutoBuilder.Runner.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoBuilder.Runner;

/// <summary>
/// Runs one build attempt end to end: spec → staging → building → publishing → complete
/// (docs/ARCHITECTURE.md, "Runner protocol"). Returns one of <see cref="RunnerExitCodes"/>.
/// </summary>
public sealed class BuildRunner
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
    private sealed class Attempt(BuildRunner runner, RunnerSpec spec, LogShipper shipper)
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

        private async Task<Prepared> StageAsync(CancellationToken cancellationToken)
        {
            if (spec.Sandbox.Refusal is { } refusal)
            {
                throw new BuildFailureException(refusal); // the server's decision (SandboxCheck.For): before anything is staged.
            }

            var sourceDirectory = Path.Combine(_workspace, "src"); // made fresh, like home, tmp and cache (AttemptWorkspace)

            // Next to, never inside, the folder it is extracted into.
            var zipPath = Path.Combine(_workspace, "source.zip");
            ExtractionResult extracted;
            try
            {
                await Api.DownloadAsync(spec.SourceUrl, zipPath, cancellationToken).ConfigureAwait(false);
                extracted = SafeZipExtractor.Extract(zipPath, sourceDirectory);
            }
            finally
            {
                File.Delete(zipPath);
            }

            await LogAsync(string.Create(CultureInfo.InvariantCulture,
                $"staging: {extracted.FileCount:N0} files, {OutputPublisher.Size(extracted.TotalBytes)}"), cancellationToken).ConfigureAwait(false);
            if (extracted.SourceRoot != sourceDirectory)
            {
                await LogAsync($"staging: using the archive's single folder '{Path.GetFileName(extracted.SourceRoot)}' as the source root", cancellationToken).ConfigureAwait(false);
            }

            var config = BuildConfigLoader.LoadFrom(extracted.SourceRoot);
            var plan = AttemptPlan.Create(spec, config, RunnerFacts.OfThisMachine(spec.Sandbox));
            var user = plan.RunAs;
            var mode = plan.CacheMode;
            var cache = mode == CacheMode.Shared ? await PrepareCacheAsync(user, cancellationToken).ConfigureAwait(false) : KeyedCache.PrivateFolder(_workspace);
            Directory.CreateDirectory(cache);
            var home = Path.Combine(_workspace, "home");
            var temp = Path.Combine(_workspace, "tmp");
            var toolchain = ToolchainResolver.Resolve(new ToolchainRequest(extracted.SourceRoot, config, spec.Toolchain, spec.Command, spec.Toolchains, cache, home));
            _toolchain = toolchain.Name;
            _command = toolchain.Command;
            await LogAsync($"toolchain {toolchain.Name}: {toolchain.Command}", cancellationToken).ConfigureAwait(false);
            await RestoreCacheAsync(plan, KeyedCache.Plan(extracted.SourceRoot, toolchain.Name, config.Cache, cache, home, _workspace, spec.Caches.MaxArchiveBytes), cancellationToken).ConfigureAwait(false);

            var version = VersionDetector.Detect(extracted.SourceRoot, config.Version, spec.Number);
            if (version.Warning is not null)
            {
                await LogAsync(version.Warning, cancellationToken).ConfigureAwait(false);
            }

            _version = version.Version;
            await LogAsync($"version {version.Version} (from {version.Source})", cancellationToken).ConfigureAwait(false);

            if (plan.TimeoutCapped is not null)
            {
                await LogAsync(plan.TimeoutCapped, cancellationToken).ConfigureAwait(false);
            }

            await LogAsync($"timeout {BuildProcess.Describe(plan.Timeout)}", cancellationToken).ConfigureAwait(false);

            Directory.CreateDirectory(home);
            Directory.CreateDirectory(temp);
            foreach (var (relative, content) in toolchain.HomeFiles)
            {
                // Owner-only: they may hold the operator's registry credentials (~/.npmrc).
                var path = Path.Combine(home, relative);
                var file = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                }
                else
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    file.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                var writer = new StreamWriter(path, file);
                await using (writer.ConfigureAwait(false))
                {
                    await writer.WriteAsync(content.AsMemory(), cancellationToken).ConfigureAwait(false);
                }
            }

            if (user is not null && !OperatingSystem.IsWindows())
            {
                HandOver(user, cache.StartsWith(_workspace + "/", StringComparison.Ordinal) ? [sourceDirectory, home, temp, cache] : [sourceDirectory, home, temp]);
            }

            var environment = BuildEnvironment.Create(new BuildEnvironmentRequest(home, temp, spec.Number, spec.ProjectId, toolchain.Environment, config.Env)
            {
                CacheDirectory = cache,
                Proxy = new ProxySettings(spec.Sandbox.HttpProxy, spec.Sandbox.HttpsProxy, spec.Sandbox.NoProxy),
            });
            if (toolchain.RequiredTool?.MissingFrom(environment["PATH"]) is { } missing)
            {
                throw new BuildFailureException(missing);
            }

            if (plan.Refusal is not null)
            {
                throw new BuildFailureException(plan.Refusal);
            }

            IReadOnlyList<string>? sandbox = null;
            IReadOnlyList<string>? toolSandbox = null;
            EgressNetwork? egress = null;
            if (plan.Sandbox is { } planned)
            {
                egress = planned.Network == SandboxNetwork.Egress ? new EgressNetwork(spec.Sandbox.AllowedNetworks) : null;
                var view = new SandboxRequest([sourceDirectory, home, temp, cache], extracted.SourceRoot, planned.SharesNetwork, temp);
                sandbox = [planned.Bubblewrap, .. Processes.Sandbox.Arguments(view)];
                toolSandbox = planned.SharesNetwork ? [planned.Bubblewrap, .. Processes.Sandbox.Arguments(view with { Network = false })] : sandbox;
            }

            await LogAsync(plan.SandboxDescription, cancellationToken).ConfigureAwait(false);
            if (plan.BuildUserDescription is { } buildUser)
            {
                await LogAsync(buildUser, cancellationToken).ConfigureAwait(false);
            }

            return new Prepared(plan, extracted.SourceRoot, toolchain, version.Version, environment) { Sandbox = sandbox, Egress = egress, ToolSandbox = toolSandbox };
        }

        private KeyedCache Cache => _keyed ??= new(Api, LogAsync, Time);

        /// <summary>
        /// Keyed mode: fills the private cache from the project's best archive before the build (half of staging's bound
        /// at most, so a slow store cannot time the build out) and remembers what to save after it.
        /// </summary>
        private async Task RestoreCacheAsync(AttemptPlan attempt, CachePlan? plan, CancellationToken cancellationToken)
        {
            var mode = attempt.CacheMode;
            if (attempt.CacheOff is { } off)
            {
                await LogAsync(off, cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is null)
            {
                await LogAsync($"cache: none for {_toolchain} (no dependency manifests to key it by)", cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is not null)
            {
                var layers = CacheLayers.For(runner._startInfo.CacheDirectory, spec.Caches.MaxLocalCopyBytes) is { } machine
                    ? new LayerRequest(machine, spec.ProjectId, attempt.RunAs)
                    : null;
                var exact = await Cache.RestoreAsync(plan, AttemptPlan.DefaultPhaseLimit(spec) / 2, cancellationToken, layers).ConfigureAwait(false);
                _cacheToSave = exact ? null : plan;
            }
        }

        /// <summary>
        /// The project's own folder of the shared cache if usable, else one inside the workspace: a cache problem never
        /// fails a build. Per project, so that no build can write into a cache another user's build reads.
        /// </summary>
        private async Task<string> PrepareCacheAsync(BuildUser? user, CancellationToken cancellationToken)
        {
            var local = Path.Combine(_workspace, "cache");
            var shared = runner._startInfo.CacheDirectory;
            if (shared is not null)
            {
                var project = Path.GetFullPath(Path.Combine(shared, ProjectCacheFolder, spec.ProjectId));
                try
                {
                    Directory.CreateDirectory(project);
                    if (user is null)
                    {
                        return project;
                    }

                    // bubblewrap binds the folder as the build user: every folder above it must let that user pass.
                    if (BuildUserAccess.Blocking(Path.GetDirectoryName(project)!, user) is { } blocked)
                    {
                        await LogAsync(string.Create(CultureInfo.InvariantCulture,
                            $"cache: the build user (uid {user.Uid}) cannot pass '{blocked}' (chmod o+x it to share the cache); using a private cache"), cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        if (FileKinds.Stat(project)?.Uid != user.Uid)
                        {
                            BuildUserAccess.GiveTo(project, user); // first use, or the build user changed.
                            if (!OperatingSystem.IsWindows())
                            {
                                File.SetUnixFileMode(project, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                            }
                        }

                        return project;
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    await LogAsync($"cache folder '{project}' is not usable ({ex.Message}); using a private cache", cancellationToken).ConfigureAwait(false);
                }
            }

            Directory.CreateDirectory(local);
            return local;
        }

        /// <summary>Gives the build's own folders to the build user, who may only pass through the workspace to reach them.</summary>
        [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
        private void HandOver(BuildUser user, IReadOnlyList<string> folders)
        {
            _folders!.HandOver(user, folders, _keyed?.Mounted);
        }

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

        /// <summary>Collects the outputs as the build user, with the build's view (docs/SECURITY.md, "The trust boundary"), and publishes them.</summary>
        private async Task PublishOutputsAsync(OutputPublisher publisher, Prepared prepared, TimeSpan limit, CancellationToken cancellationToken)
        {
            var published = await publisher.PublishAsync(
                new PublishRequest(new BuildView(prepared.SourceRoot, prepared.ToolSandbox, prepared.RunAs), prepared.Toolchain.Outputs, prepared.Toolchain.Artifacts)
                {
                    Succeeded = _outcome == BuildOutcome.Succeeded,
                    MaxBytes = spec.MaxWorkspaceBytes,
                    Timeout = limit,
                },
                cancellationToken).ConfigureAwait(false);
            _files = published.Files;
            _artifacts = published.Artifacts;
            if (published.Error is { } error)
            {
                Fail(error);
                await LogAsync($"publishing failed: {error}", cancellationToken).ConfigureAwait(false);
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
