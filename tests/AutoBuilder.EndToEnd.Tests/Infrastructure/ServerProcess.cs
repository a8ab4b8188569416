using System.Diagnostics;
using System.Net.Http.Headers;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>A real `autobuilder serve` child process on a data folder of its own.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private ServerProcess(Process process, string dataDirectory)
    {
        _process = process;
        DataDirectory = dataDirectory;
    }

    public string DataDirectory { get; }

    public Uri Url { get; private set; } = new("http://127.0.0.1");

    public int ProcessId => _process.Id;

    public string AdminKey => File.ReadAllText(Path.Combine(DataDirectory, "admin.key")).Trim();

    public string BlobRoot => Path.Combine(DataDirectory, "blobs");

    /// <summary>Where StartAsync puts the server's workspaces (Executor:WorkspaceRoot): beside the data folder.</summary>
    public string WorkspaceRoot => WorkspaceRootOf(DataDirectory);

    private static string WorkspaceRootOf(string dataDirectory) => Path.Combine(dataDirectory, "..", Path.GetFileName(dataDirectory) + "-workspaces");

    /// <summary>An attempt's local workspace ({Executor:WorkspaceRoot}/{buildId}-{attempt}).</summary>
    public string WorkspaceOf(string buildId, int attempt) => Path.Combine(WorkspaceRoot, $"{buildId}-{attempt}");

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>
    /// Starts a server and waits until it says where it listens. Settings are configuration keys (e.g. "Dispatcher:MaxConcurrentBuilds").
    /// A restarted server that runners must find again passes its predecessor's <paramref name="urls"/>.
    /// </summary>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, IReadOnlyDictionary<string, string>? settings = null, IReadOnlyDictionary<string, string>? environment = null, string urls = "http://127.0.0.1:0", string role = "all")
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { TestPaths.CliDll, "serve", "--data", dataDirectory, "--urls", urls, "--role", role })
        {
            startInfo.ArgumentList.Add(arg);
        }

        startInfo.Environment["Toolchains__Maven__SettingsFile"] = TestPaths.MavenSettings;
        startInfo.Environment["Executor__WorkspaceRoot"] = WorkspaceRootOf(dataDirectory);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
        }

        var process = Process.Start(startInfo)!;
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new ServerProcess(process, dataDirectory);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data, listening);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, listening);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _ = process.WaitForExitAsync().ContinueWith(_ => listening.TrySetException(new InvalidOperationException($"The server exited with code {process.ExitCode}:\n{server.Output}")), TaskScheduler.Default);

        try
        {
            server.Url = await listening.Task.WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new TimeoutException($"The server ({role}) did not say where it listens within 120 s:\n{server.Output}");
        }
        return server;
    }

    public HttpClient CreateClient(string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey ?? AdminKey);
        return client;
    }

    /// <summary>SIGKILL: no shutdown code runs, exactly as in a crash.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM: the server shuts down as a Kubernetes rolling update asks it to.</summary>
    public async Task StopGracefullyAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void OnLine(string? line, TaskCompletionSource<Uri>? listening)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
        }

        const string marker = "AutoBuilder listening on ";
        var at = line.IndexOf(marker, StringComparison.Ordinal);
        if (listening is not null && at >= 0)
        {
            listening.TrySetResult(new Uri(line[(at + marker.Length)..].Split(' ')[0]));
        }
    }
}
