using System.Diagnostics;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>One line the CLI printed.</summary>
public sealed record OutputLine(string Text);

public sealed record CliResult(int ExitCode, IReadOnlyList<OutputLine> Stdout, string Stderr)
{
    public string StdoutText => string.Join('\n', Stdout.Select(l => l.Text));
}

/// <summary>Runs the real `autobuilder` client as a child process against a server.</summary>
public static class CliProcess
{
    public static Task<CliResult> RunAsync(ServerProcess server, string workingDirectory, params string[] args) =>
        RunAsync(workingDirectory, new Dictionary<string, string>
        {
            ["AUTOBUILDER_SERVER"] = server.Url.ToString(),
            ["AUTOBUILDER_API_KEY"] = server.AdminKey,
        }, args);

    /// <summary>`autobuilder build samples/SAMPLE --project P --out DIR` against the server; asserts it exited 0, saying why not.</summary>
    public static async Task<CliResult> BuildSampleAsync(ServerProcess server, string sample, string project, string output)
    {
        var result = await RunAsync(server, TestPaths.RepoRoot, "build", Path.Combine(TestPaths.Samples, sample), "--project", project, "--out", output);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StdoutText}\n{result.Stderr}\n{server.Output}");
        return result;
    }

    /// <summary>Runs `autobuilder` with extra environment variables (configuration keys as Section__Key), no server involved.</summary>
    public static Task<CliResult> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunAsync(workingDirectory, environment, TimeSpan.FromMinutes(5), args);

    /// <summary>Runs `autobuilder ARGS` with the environment given (on top of the test's own); killed past <paramref name="limit"/> (a hang guard).</summary>
    public static async Task<CliResult> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan limit, params string[] args)
    {
        using var process = Start(workingDirectory, environment, args);
        var stdout = new List<OutputLine>();
        var stderr = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stdout)
                {
                    stdout.Add(new OutputLine(e.Data));
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"autobuilder {string.Join(' ', args)} did not finish:\n{string.Join('\n', stdout.Select(l => l.Text))}\n{stderr}");
        }

        process.WaitForExit(); // drains the asynchronous readers
        lock (stdout)
        {
            return new CliResult(process.ExitCode, stdout.ToList(), stderr.ToString());
        }
    }

    /// <summary>Starts `autobuilder` with both outputs redirected (the caller reads or ignores them).</summary>
    public static Process Start(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        startInfo.ArgumentList.Add(TestPaths.CliDll);
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        return Process.Start(startInfo)!;
    }
}
