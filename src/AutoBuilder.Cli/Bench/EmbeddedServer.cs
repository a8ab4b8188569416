using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// An `autobuilder serve` child process on a temp data folder: the bench's own server when no --server is given.
/// A separate process, so its memory (VmHWM / VmRSS in /proc) is the server's alone, not the bench clients'.
/// </summary>
public sealed class EmbeddedServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _lastLines = new();

    private EmbeddedServer(Process process, string root)
    {
        _process = process;
        Root = root;
    }

    public Uri Url { get; private set; } = new("http://127.0.0.1/");

    public string Root { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string AdminKey => File.ReadAllText(Path.Combine(DataDirectory, "admin.key")).Trim();

    public int ProcessId => _process.Id;

    /// <summary>Starts a server on a fresh folder under <paramref name="root"/> with configuration keys as environment (Section__Key).</summary>
    public static async Task<EmbeddedServer> StartAsync(string root, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(root);
        var startInfo = SelfStartInfo();
        foreach (var argument in new[] { "serve", "--data", Path.Combine(root, "data"), "--urls", "http://127.0.0.1:0" })
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in settings)
        {
            startInfo.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("The embedded server did not start.");
        var server = new EmbeddedServer(process, root);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data, listening);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data, listening);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _ = process.WaitForExitAsync(CancellationToken.None).ContinueWith(
            _ => listening.TrySetException(new InvalidOperationException($"The embedded server exited with code {process.ExitCode}: {server.LastLines}")),
            TaskScheduler.Default);
        try
        {
            // Generous: on a machine this benchmark saturates, a .NET server can take a minute to start.
            server.Url = await listening.Task.WaitAsync(TimeSpan.FromMinutes(3), cancellationToken);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>The last lines the server printed (for failures).</summary>
    public string LastLines
    {
        get
        {
            lock (_lastLines)
            {
                return string.Join(" | ", _lastLines);
            }
        }
    }

    /// <summary>The server's resident memory now, in MB.</summary>
    public double RssMb() => ReadStatusKiB("VmRSS") / 1024.0;

    /// <summary>The server's peak resident memory since start or the last <see cref="ResetPeak"/>, in MB.</summary>
    public double PeakRssMb() => ReadStatusKiB("VmHWM") / 1024.0;

    /// <summary>
    /// CPU seconds (user + system) of the server itself and of its reaped children (build commands; runner processes too with Executor:Runner=Process), from
    /// /proc/PID/stat. Wall time is noise on a loaded machine; CPU per build is what bounds throughput on few cores.
    /// </summary>
    public (double Server, double Children) CpuSeconds()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
            // Fields after "(comm)": state is field 3; utime, stime, cutime, cstime are fields 14-17.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            double Ticks(int field) => long.Parse(fields[field - 3], CultureInfo.InvariantCulture) / 100.0;
            return (Ticks(14) + Ticks(15), Ticks(16) + Ticks(17));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }

    /// <summary>Resets the peak (VmHWM) to the current RSS (Linux: "5" to /proc/PID/clear_refs), so a step's peak is its own.</summary>
    public void ResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux or not allowed: the peak then counts from the server's start, which only overstates it.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left in the temp folder.
        }
    }

    /// <summary>This very executable (or `dotnet autobuilder.dll`), as the local executor starts runners.</summary>
    internal static ProcessStartInfo SelfStartInfo()
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable this is.");
        var startInfo = new ProcessStartInfo(self)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            startInfo.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("No entry assembly."));
        }

        return startInfo;
    }

    private long ReadStatusKiB(string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
    }

    private void OnLine(string? line, TaskCompletionSource<Uri> listening)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            if (_lastLines.Count > 10)
            {
                _lastLines.Dequeue();
            }
        }

        const string marker = "AutoBuilder listening on ";
        var at = line.IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            listening.TrySetResult(new Uri(line[(at + marker.Length)..].Split(' ')[0].TrimEnd('/') + "/"));
        }
    }
}
