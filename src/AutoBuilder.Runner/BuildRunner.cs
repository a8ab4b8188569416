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

    private static async Task TryLogAsync(LogShipper shipper, string line)
    {
        // Best effort: the attempt is over, the log may be what failed.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await shipper.WriteLineAsync(line, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Everything staging decided about the build.</summary>
    private sealed record Prepared(string SourceRoot, ResolvedToolchain Toolchain, BuildConfig Config, string Version, TimeSpan Timeout, Dictionary<string, string> Environment)
    {
        /// <summary>bwrap and its options, when the command runs sandboxed.</summary>
        public IReadOnlyList<string>? Sandbox { get; init; }
        /// <summary>The unprivileged user the command runs as, when the runner is root.</summary>
        public BuildUser? RunAs { get; init; }
        /// <summary>The build's own network to the internet (Sandbox:Network=Egress).</summary>
        public EgressNetwork? Egress { get; init; }
        /// <summary>bwrap and its options without a network, for the tools that read the build's tree once it ran (<see cref="BuildUserTool"/>).</summary>
        public IReadOnlyList<string>? ToolSandbox { get; init; }
    }

    private static readonly TimeSpan MinimumTransferLimit = TimeSpan.FromMinutes(5);

    /// <summary>{cache}/projects/{projectId}: each project's own dependency caches.</summary>
    public const string ProjectCacheFolder = "projects";

    /// <summary>The build user, when the spec names one and this runner is root (only root can change users).</summary>
    private static BuildUser? BuildUserOf(SandboxSettings sandbox) =>
        Environment.IsPrivilegedProcess && sandbox.BuildUid is > 0 and var uid
            ? new BuildUser((uint)uid, (uint)(sandbox.BuildGid ?? uid))
            : null;

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
            }
        }

        private async Task RunCoreAsync(CancellationToken cancellationToken)
        {
            Directory.CreateDirectory(_workspace);
            await Api.ReportPhaseAsync(BuildPhase.Staging, cancellationToken).ConfigureAwait(false);
            await LogAsync($"build {spec.ProjectId} #{spec.Number} (attempt {spec.Attempt})", cancellationToken).ConfigureAwait(false);

            var started = Time.GetTimestamp();
            Prepared? prepared = null;
            var defaultLimit = PhaseLimit(TimeSpan.FromSeconds(spec.TimeoutSeconds));
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
                var publishLimit = PhaseLimit(prepared.Timeout);
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
                    await Cache.SaveAsync(_cacheToSave, publishLimit, cancellationToken).ConfigureAwait(false);
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
            var sourceDirectory = Path.Combine(_workspace, "src");
            if (Directory.Exists(sourceDirectory))
            {
                Directory.Delete(sourceDirectory, recursive: true); // a reused workspace: start clean.
            }

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
            var user = BuildUserOf(spec.Sandbox);
            var mode = config.Cache?.Enabled == false ? CacheMode.Off : spec.Caches.Mode;
            var cache = mode == CacheMode.Shared ? await PrepareCacheAsync(user, cancellationToken).ConfigureAwait(false) : KeyedCache.PrivateFolder(_workspace);
            Directory.CreateDirectory(cache);
            var home = Path.Combine(_workspace, "home");
            var temp = Path.Combine(_workspace, "tmp");
            var toolchain = ToolchainResolver.Resolve(new ToolchainRequest(extracted.SourceRoot, config, spec.Toolchain, spec.Command, spec.Toolchains, cache, home));
            _toolchain = toolchain.Name;
            _command = toolchain.Command;
            await LogAsync($"toolchain {toolchain.Name}: {toolchain.Command}", cancellationToken).ConfigureAwait(false);
            await RestoreCacheAsync(mode, KeyedCache.Plan(extracted.SourceRoot, toolchain.Name, config.Cache, cache, home, _workspace, spec.Caches.MaxArchiveBytes), cancellationToken).ConfigureAwait(false);

            var version = VersionDetector.Detect(extracted.SourceRoot, config.Version, spec.Number);
            if (version.Warning is not null)
            {
                await LogAsync(version.Warning, cancellationToken).ConfigureAwait(false);
            }

            _version = version.Version;
            await LogAsync($"version {version.Version} (from {version.Source})", cancellationToken).ConfigureAwait(false);

            var timeout = TimeSpan.FromSeconds(spec.TimeoutSeconds);
            if (config.Timeout is { } configured)
            {
                var max = TimeSpan.FromSeconds(spec.MaxTimeoutSeconds);
                timeout = configured <= max ? configured : max;
                if (configured > max)
                {
                    await LogAsync($"timeout {Describe(configured.TotalSeconds)} from autobuilder.yml is capped at the maximum {Describe(max.TotalSeconds)}", cancellationToken).ConfigureAwait(false);
                }
            }

            await LogAsync($"timeout {Describe(timeout.TotalSeconds)}", cancellationToken).ConfigureAwait(false);

            Directory.CreateDirectory(home);
            Directory.CreateDirectory(temp);
            foreach (var (relative, content) in toolchain.HomeFiles)
            {
                var path = Path.Combine(home, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllTextAsync(path, content, cancellationToken).ConfigureAwait(false);
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

            IReadOnlyList<string>? sandbox = null;
            IReadOnlyList<string>? toolSandbox = null;
            EgressNetwork? egress = null;
            if (spec.Sandbox.Enabled)
            {
                var bwrap = Processes.Sandbox.Find()
                    ?? throw new BuildFailureException("the server runs builds sandboxed (Sandbox:Mode) but bubblewrap ('bwrap') is not on the runner's PATH: install it (apt-get install bubblewrap) or set Sandbox:Mode=Off");
                if (spec.Sandbox.Network == SandboxNetwork.Egress)
                {
                    // Decided by the server; a runner that cannot provide it fails the build rather than widen its network.
                    if (EgressNetwork.Unavailable() is { } reason)
                    {
                        throw new BuildFailureException($"the server gives builds Sandbox:Network=Egress, but this runner cannot: {reason}");
                    }

                    egress = new EgressNetwork(spec.Sandbox.AllowedNetworks);
                }

                var shareNetwork = spec.Sandbox.Network != SandboxNetwork.None;
                var view = new SandboxRequest([sourceDirectory, home, temp, cache], extracted.SourceRoot, shareNetwork, temp);
                sandbox = [bwrap, .. Processes.Sandbox.Arguments(view)];
                toolSandbox = shareNetwork ? [bwrap, .. Processes.Sandbox.Arguments(view with { Network = false })] : sandbox;
                await LogAsync(spec.Sandbox.Network switch
                {
                    SandboxNetwork.Egress => "sandbox: bubblewrap, network: egress (the internet; not the host, its loopback, link-local or private networks)",
                    SandboxNetwork.Host => "sandbox: bubblewrap, network: the host's (Sandbox:Network=Host)",
                    _ => "sandbox: bubblewrap, no network",
                }, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await LogAsync("sandbox: off (the server's Sandbox:Mode)", cancellationToken).ConfigureAwait(false);
            }

            if (user is not null)
            {
                await LogAsync(string.Create(CultureInfo.InvariantCulture, $"build user: uid {user.Uid}, gid {user.Gid} (the runner is root; Sandbox:BuildUid)"), cancellationToken).ConfigureAwait(false);
            }

            return new Prepared(extracted.SourceRoot, toolchain, config, version.Version, timeout, environment) { Sandbox = sandbox, RunAs = user, Egress = egress, ToolSandbox = toolSandbox };
        }

        private KeyedCache Cache => _keyed ??= new(Api, LogAsync, Time);

        /// <summary>
        /// Keyed mode: fills the private cache from the project's best archive before the build (half of staging's bound
        /// at most, so a slow store cannot time the build out) and remembers what to save after it.
        /// </summary>
        private async Task RestoreCacheAsync(CacheMode mode, CachePlan? plan, CancellationToken cancellationToken)
        {
            if (mode == CacheMode.Off)
            {
                await LogAsync(spec.Caches.Mode == CacheMode.Off ? "cache: off" : "cache: off (autobuilder.yml)", cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is null)
            {
                await LogAsync($"cache: none for {_toolchain} (no dependency manifests to key it by)", cancellationToken).ConfigureAwait(false);
            }
            else if (mode == CacheMode.Keyed && plan is not null)
            {
                var layers = CacheLayers.For(runner._startInfo.CacheDirectory, spec.Caches.MaxLocalCopyBytes) is { } machine
                    ? new LayerRequest(machine, spec.ProjectId, BuildUserOf(spec.Sandbox))
                    : null;
                var exact = await Cache.RestoreAsync(plan, PhaseLimit(TimeSpan.FromSeconds(spec.TimeoutSeconds)) / 2, cancellationToken, layers).ConfigureAwait(false);
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
            File.SetUnixFileMode(_workspace, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            if (BuildUserAccess.Blocking(_workspace, user) is { } blocked)
            {
                throw new BuildFailureException(string.Create(CultureInfo.InvariantCulture,
                    $"the build user (uid {user.Uid}) cannot reach its workspace: '{blocked}' does not let other users pass. Give that folder search permission (chmod o+x) or move Executor:WorkspaceRoot"));
            }

            foreach (var folder in folders)
            {
                BuildUserAccess.GiveTo(folder, user, _keyed?.Mounted);
            }
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

        /// <summary>Staging and publishing are each bounded like the build: by its timeout, and never less than 5 minutes for transfers.</summary>
        private static TimeSpan PhaseLimit(TimeSpan buildTimeout) => buildTimeout > MinimumTransferLimit ? buildTimeout : MinimumTransferLimit;

        private static CancellationTokenSource Bounded(TimeSpan limit, CancellationToken cancellationToken)
        {
            var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(limit);
            return bounded;
        }

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
            runner._logger.LogInformation("{Line}", line);
            return shipper.WriteLineAsync(line, cancellationToken);
        }

        private static double Seconds(TimeSpan elapsed) => Math.Round(elapsed.TotalSeconds, 3);

        private static string Describe(double? seconds) => BuildProcess.Describe(TimeSpan.FromSeconds(seconds ?? 0));

        private static string Wire(BuildOutcome outcome) => outcome.ToStatus().ToWire();
    }
}
