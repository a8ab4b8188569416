using System.Diagnostics;
using System.Reflection;
using AutoBuilder.Core.Execution;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Executors.Local;

/// <summary>
/// Executor:Runner=Process: runs each build attempt as a child process (`autobuilder runner`) in a fresh workspace on
/// local scratch disk. It costs a .NET process start per build (see <see cref="InProcessRunnerExecutor"/>, the default).
/// The build token goes down the child's stdin, never into its environment or command line; the pipe also ties
/// the runner's life to this process: when the server dies, the runner sees end-of-file and stops its build.
/// </summary>
public sealed class LocalProcessExecutor(ServerPaths paths, IOptions<ExecutorOptions> options, ILogger<LocalProcessExecutor> logger) : IBuildExecutor
{
    /// <summary>What a runner inherits from the server's environment: enough to find its tools, nothing else.</summary>
    private static readonly string[] InheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "DOTNET_ROOT", "TMPDIR"];

    public Task<IBuildExecution> StartAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        var workspace = LocalWorkspace.Create(paths, launch);
        var startInfo = RunnerProcessStartInfo();
        foreach (var argument in new[]
                 {
                     "runner", "--api", launch.ApiUrl.ToString(), "--build", launch.BuildId,
                     "--workspace", workspace, "--cache", paths.CacheDirectory,
                 })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("The runner process did not start.");
        var execution = new LocalExecution(launch, process, workspace, options.Value.KeepWorkspaces, logger);
        // The token is the first line on stdin; the pipe then stays open as the runner's lifeline.
        process.StandardInput.WriteLine(launch.Token);
        process.StandardInput.Flush();
        return Task.FromResult<IBuildExecution>(execution);
    }

    /// <summary>A local runner cannot outlive its server (see the class comment): nothing to adopt after a restart.</summary>
    public Task<IBuildExecution?> TryAdoptAsync(BuildLaunch launch, CancellationToken cancellationToken = default)
    {
        LocalWorkspace.DeleteQuietly(LocalWorkspace.PathOf(paths, launch));
        return Task.FromResult<IBuildExecution?>(null);
    }

    private ProcessStartInfo RunnerProcessStartInfo()
    {
        var startInfo = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = paths.WorkspaceRoot,
        };

        var configured = options.Value.RunnerExecutable;
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable to start runners with; set Executor:RunnerExecutable.");
        if (!string.IsNullOrEmpty(configured))
        {
            startInfo.FileName = configured;
        }
        else if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            // Started as `dotnet autobuilder.dll`: do the same for the runner.
            startInfo.FileName = self;
            startInfo.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("No entry assembly."));
        }
        else
        {
            startInfo.FileName = self;
        }

        startInfo.Environment.Clear();
        foreach (var name in InheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                startInfo.Environment[name] = value;
            }
        }

        startInfo.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        startInfo.Environment["DOTNET_NOLOGO"] = "1";
        return startInfo;
    }

    private sealed class LocalExecution : IBuildExecution
    {
        private const int DiagnosticLines = 20;
        private readonly Process _process;
        private readonly string _workspace;
        private readonly bool _keepWorkspace;
        private readonly ILogger _logger;
        private readonly Queue<string> _lastLines = new();

        public LocalExecution(BuildLaunch launch, Process process, string workspace, bool keepWorkspace, ILogger logger)
        {
            BuildId = launch.BuildId;
            Attempt = launch.Attempt;
            _process = process;
            _workspace = workspace;
            _keepWorkspace = keepWorkspace;
            _logger = logger;
            var stdout = PumpAsync(process.StandardOutput);
            var stderr = PumpAsync(process.StandardError);
            Completion = WaitAsync(stdout, stderr);
        }

        public string BuildId { get; }

        public int Attempt { get; }

        public Task<ExecutionExit> Completion { get; }

        public Task StopAsync(string reason, CancellationToken cancellationToken = default)
        {
            _logger.LogInformation("Stopping the runner of build {BuildId}: {Reason}", BuildId, reason);
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }

            return Task.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await ((Task)Completion).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _process.Dispose();
        }

        private async Task<ExecutionExit> WaitAsync(Task stdout, Task stderr)
        {
            await _process.WaitForExitAsync();
            await Task.WhenAll(stdout, stderr);
            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The pipe is already broken: the runner is gone.
            }

            if (!_keepWorkspace)
            {
                LocalWorkspace.DeleteQuietly(_workspace);
            }

            string? diagnostics;
            lock (_lastLines)
            {
                diagnostics = _lastLines.Count == 0 ? null : string.Join(" | ", _lastLines.TakeLast(3));
            }

            return new ExecutionExit(_process.ExitCode, _process.ExitCode == 0 ? null : diagnostics);
        }

        /// <summary>The runner's own diagnostics go to the server log; the last lines explain a crash.</summary>
        private async Task PumpAsync(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                _logger.LogDebug("runner {BuildId}: {Line}", BuildId, line);
                lock (_lastLines)
                {
                    _lastLines.Enqueue(line);
                    if (_lastLines.Count > DiagnosticLines)
                    {
                        _lastLines.Dequeue();
                    }
                }
            }
        }
    }
}
