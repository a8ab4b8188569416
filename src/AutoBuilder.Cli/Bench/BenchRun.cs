using System.Diagnostics;
using AutoBuilder.Cli.Client;
using AutoBuilder.Core.Api;

namespace AutoBuilder.Cli.Bench;

/// <summary>What every scenario shares: options, where the server is, and submitting a build as a user would.</summary>
public sealed class BenchRun(BenchOptions options, ClientSettings? remote)
{
    public BenchOptions Options { get; } = options;

    public bool IsRemote => remote is not null;

    public bool Quick => Options.Quick;

    public TextWriter Progress => Options.Progress;

    /// <summary>The server to measure: the --server one, or a fresh embedded server (workspaces on local scratch, or on its cache folder).</summary>
    public async Task<BenchTarget> OpenTargetAsync(bool workspaceOnCache, CancellationToken cancellationToken)
    {
        if (remote is not null)
        {
            return BenchTarget.Remote(remote);
        }

        var target = await BenchTarget.StartEmbeddedAsync(Options, workspaceOnCache, cancellationToken);
        Progress.WriteLine($"started {target.Describe()}" + (workspaceOnCache ? " (workspaces on the shared cache folder)" : ""));
        return target;
    }

    public string SourcesDirectory => Path.Combine(Options.TempRoot, "sources");

    /// <summary>A project of its own per step, so builds lists stay short and steps do not see each other.</summary>
    public static async Task<string> NewProjectAsync(BenchTarget target, string purpose, CancellationToken cancellationToken)
    {
        var id = $"bench-{purpose}-{Guid.NewGuid().ToString("N")[..8]}";
        await target.Client.PutProjectAsync(id, cancellationToken);
        return id;
    }

    /// <summary>Uploads <paramref name="zipPath"/> and queues a build in one POST, as `autobuilder build` does; returns the build and the POST's time.</summary>
    public static async Task<(BuildDto Build, double UploadMs)> SubmitAsync(BenchTarget target, string projectId, string zipPath, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        await using var zip = new FileStream(zipPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var build = await target.Client.UploadAndBuildAsync(projectId, zip, cancellationToken: cancellationToken);
        return (build, watch.Elapsed.TotalMilliseconds);
    }

    /// <summary>Submits and waits for one build; its timings.</summary>
    public static async Task<BuildTiming> BuildOnceAsync(BenchTarget target, string projectId, string zipPath, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (build, uploadMs) = await SubmitAsync(target, projectId, zipPath, cancellationToken);
        var done = await BuildWaiter.WaitAllAsync(target.Client, projectId, [build.Id], TimeSpan.FromMilliseconds(20), timeout, cancellationToken);
        return BuildTiming.From(done[0], uploadMs);
    }

    /// <summary>The report skeleton every scenario fills.</summary>
    public BenchReport Report(string scenario, string server, string? loadBefore, Stopwatch watch, IReadOnlyList<object> rows, IReadOnlyList<TargetCheck> targets, IReadOnlyList<string> notes) => new()
    {
        Scenario = scenario,
        Quick = Quick,
        Date = DateTimeOffset.UtcNow,
        Machine = BenchMachine.Describe(),
        Server = server,
        LoadBefore = loadBefore,
        LoadAfter = BenchMachine.ReadLoadAverage(),
        DurationSeconds = Stats.Round(watch.Elapsed.TotalSeconds),
        Rows = rows,
        Targets = targets,
        Notes = notes,
    };

    /// <summary>Runs a program to its end; its wall time in ms. Throws with its output when it fails.</summary>
    public static async Task<double> RunProcessAsync(string fileName, IEnumerable<string> arguments, string? workingDirectory, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var watch = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new BenchException($"{fileName} did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BenchException($"cannot run {fileName}: {e.Message} (is it installed?)");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            var elapsed = watch.Elapsed.TotalMilliseconds;
            var output = await stdout + await stderr;
            if (process.ExitCode != 0)
            {
                throw new BenchException($"{fileName} {string.Join(' ', startInfo.ArgumentList)} exited with {process.ExitCode}: {output.Trim()[..Math.Min(2000, output.Trim().Length)]}");
            }

            return elapsed;
        }
    }
}
