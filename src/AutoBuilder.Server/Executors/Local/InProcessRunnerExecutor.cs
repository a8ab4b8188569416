using AutoBuilder.Core.Execution;
using AutoBuilder.Runner;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Local;

/// <summary>
/// Executor:Runner=InProcess (the default): runs each build attempt's runner inside this process, in a fresh workspace
/// on local scratch disk, the way a Jenkins or GitLab agent runs its jobs. The build command is still a child process
/// in its own session (and sandbox); only the runner's protocol work — download, unzip, log shipping, zip, upload —
/// runs here, on code that is already loaded and compiled. A runner process per build cost ~0.2 s of wall time and
/// ~0.8 CPU-s on every build (start, JIT), which bounded a 2-core machine to ~1–2 builds/s (docs/BENCHMARKS.md).
/// The runner still speaks the same HTTP protocol, with its build token, to the API it is given: one code path for
/// local and Kubernetes builds. A sandboxed build dies with this process (bwrap --die-with-parent, see SpawnThread).
/// </summary>
public sealed class InProcessRunnerExecutor(ServerPaths paths, IOptions<ExecutorOptions> options, ILoggerFactory loggers) : IBuildExecutor, IDisposable
{
    // One connection pool for every runner; a runner's transfers can be long, its requests are bounded by their own timeouts.
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
    {
        Timeout = TimeSpan.FromMinutes(30),
    };

    private readonly ILogger _logger = loggers.CreateLogger<BuildRunner>();

    public Task<IBuildExecution> StartAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        var workspace = LocalWorkspace.Create(paths, launch);
        var startInfo = new RunnerStartInfo(launch.ApiUrl, launch.BuildId, launch.Token, workspace, paths.CacheDirectory);
        return Task.FromResult<IBuildExecution>(new Execution(launch, workspace, options.Value.KeepWorkspaces, startInfo, _http, _logger));
    }

    /// <summary>A runner inside a process that has died is gone with it: nothing to adopt after a restart.</summary>
    public Task<IBuildExecution?> TryAdoptAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        LocalWorkspace.DeleteQuietly(LocalWorkspace.PathOf(paths, launch));
        return Task.FromResult<IBuildExecution?>(null);
    }

    public void Dispose() => _http.Dispose();

    private sealed class Execution : IBuildExecution
    {
        /// <summary>How long a runner told to stop may take before its slot is freed anyway.</summary>
        private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);
        private readonly CancellationTokenSource _stop = new();
        private bool _abandoned;
        private readonly string _workspace;
        private readonly bool _keepWorkspace;
        private readonly ILogger _logger;

        public Execution(BuildLaunch launch, string workspace, bool keepWorkspace, RunnerStartInfo startInfo, HttpClient http, ILogger logger)
        {
            BuildId = launch.BuildId;
            Attempt = launch.Attempt;
            _workspace = workspace;
            _keepWorkspace = keepWorkspace;
            _logger = logger;
            var log = new RunnerLog(logger, launch.BuildId);
            var runner = new BuildRunner(startInfo, http, log);
            // Off the dispatcher's thread: the runner's first steps (workspace, spec request) must not hold it up.
            Completion = SettleAsync(Task.Run(() => RunAsync(runner, log)));
        }

        public string BuildId { get; }

        public int Attempt { get; }

        public Task<ExecutionExit> Completion { get; }

        public async Task StopAsync(string reason, CancellationToken cancellationToken = default)
        {
            _logger.LogInformation("Stopping the runner of build {BuildId}: {Reason}", BuildId, reason);
            try
            {
                // The runner kills the build's process group and returns; Completion then completes.
                await _stop.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // Already over.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await ((Task)Completion).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!_abandoned)
            {
                _stop.Dispose();
            }
        }

        /// <summary>
        /// The runner's end; or, once it was told to stop, at most <see cref="StopGrace"/> later whatever it is doing (a
        /// blocking call cannot observe a token): the slot is freed and the workspace removed, and the runner's task is
        /// left to end on its own.
        /// </summary>
        private async Task<ExecutionExit> SettleAsync(Task<ExecutionExit> run)
        {
            var stopped = Task.Delay(Timeout.Infinite, _stop.Token);
            if (await Task.WhenAny(run, stopped).ConfigureAwait(false) == run
                || await Task.WhenAny(run, Task.Delay(StopGrace)).ConfigureAwait(false) == run)
            {
                return await run.ConfigureAwait(false);
            }

            _abandoned = true;
            _logger.LogWarning("The runner of build {BuildId} did not stop within {Grace}s; its slot is freed and its workspace removed", BuildId, StopGrace.TotalSeconds);
            if (!_keepWorkspace)
            {
                LocalWorkspace.DeleteQuietly(_workspace);
            }

            return new ExecutionExit(RunnerExitCodes.Cancelled, $"the runner did not stop within {StopGrace.TotalSeconds:0}s of being told to and was abandoned");
        }

        private async Task<ExecutionExit> RunAsync(BuildRunner runner, RunnerLog log)
        {
            int exitCode;
            try
            {
                exitCode = await runner.RunAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // RunAsync reports its own failures as exit codes; anything else is a bug, and still only this build's.
                _logger.LogError(ex, "The runner of build {BuildId} failed", BuildId);
                exitCode = RunnerExitCodes.InfrastructureFailure;
                log.Remember(ex.Message);
            }
            finally
            {
                if (!_keepWorkspace)
                {
                    LocalWorkspace.DeleteQuietly(_workspace);
                }
            }

            return new ExecutionExit(exitCode, exitCode == RunnerExitCodes.Completed ? null : log.Diagnostics());
        }
    }

    /// <summary>
    /// The runner's log: its routine lines (one per step of every build) at Debug, warnings and errors at their level,
    /// and the last few kept to explain a failed attempt, as a runner process's last output lines would.
    /// </summary>
    private sealed class RunnerLog(ILogger inner, string buildId) : ILogger
    {
        private const int Kept = 3;
        private readonly Queue<string> _last = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = formatter(state, exception);
            Remember(exception is null ? line : $"{line}: {exception.Message}");
            var level = logLevel >= LogLevel.Warning ? logLevel : LogLevel.Debug;
            if (inner.IsEnabled(level))
            {
                inner.Log(level, eventId, exception, "runner {BuildId}: {Line}", buildId, line);
            }
        }

        public void Remember(string line)
        {
            lock (_last)
            {
                _last.Enqueue(line);
                if (_last.Count > Kept)
                {
                    _last.Dequeue();
                }
            }
        }

        public string? Diagnostics()
        {
            lock (_last)
            {
                return _last.Count == 0 ? null : string.Join(" | ", _last);
            }
        }
    }
}
