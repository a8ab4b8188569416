using System.Diagnostics;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Scenario 1: platform overhead per no-op build (total minus the build command) beside a bare shell pipeline doing
/// the same work on the same ZIP (unzip to a temp folder, the no-op, zip the outputs, copy them to a folder), run
/// alternately in the same process.
/// </summary>
public sealed class OverheadScenario : IBenchScenario
{
    /// <summary>The shell's side: everything AutoBuilder does for a no-op build that publishes its whole source, and nothing else.</summary>
    public const string ShellPipeline =
        "set -e; w=$(mktemp -d); unzip -q \"$1\" -d \"$w/src\"; (cd \"$w/src\" && true); " +
        "(cd \"$w/src\" && zip -q -1 -r \"$w/result.zip\" .); mkdir -p \"$2\"; cp \"$w/result.zip\" \"$2/\"; rm -rf \"$w\"";

    public string Name => "overhead";

    public sealed record Row(string Size, int Files, int Runs, double OverheadMedianMs, double ShellMedianMs, double Ratio,
        double TotalMedianMs, double UploadMedianMs, double QueueMedianMs, double StageMedianMs, double BuildMedianMs, double PublishMedianMs, int Failures,
        double ColdOverheadMs, double? ServerCpuMsPerBuild, double? ChildCpuMsPerBuild);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        (string Name, long Bytes, int Files)[] sizes = run.Quick
            ? [("1MB", 1_000_000, 100), ("10MB", 10_000_000, 1_000)]
            : [("1MB", 1_000_000, 100), ("10MB", 10_000_000, 1_000), ("100MB", 100_000_000, 10_000)];
        var reps = run.Quick ? 3 : 7;
        var timeout = TimeSpan.FromMinutes(5);

        await using var target = await run.OpenTargetAsync(workspaceOnCache: false, cancellationToken);
        var project = await BenchRun.NewProjectAsync(target, "overhead", cancellationToken);
        var shellOut = Path.Combine(run.Options.TempRoot, "shell-results");

        var rows = new List<object>();
        var table = new List<IReadOnlyList<string>>();
        foreach (var (name, bytes, files) in sizes)
        {
            var zip = SourceArchives.CreateNoop(run.SourcesDirectory, "noop-" + name, bytes, files);
            // One untimed round per size first, as a server that has been up a while has run these paths already
            // (JIT and tiering, connection pool, page cache); its figure is reported apart as the cold build.
            var cold = await BenchRun.BuildOnceAsync(target, project, zip, timeout, cancellationToken);
            await ShellAsync(zip, shellOut, cancellationToken);
            run.Progress.WriteLine($"overhead {name} warm-up: autobuilder {cold.OverheadMs:0} ms overhead (not counted)");
            var builds = new List<BuildTiming>();
            var shell = new List<double>();
            var cpuBefore = target.CpuSeconds();
            for (var i = 0; i < reps; i++)
            {
                builds.Add(await BenchRun.BuildOnceAsync(target, project, zip, timeout, cancellationToken));
                shell.Add(await ShellAsync(zip, shellOut, cancellationToken));
                run.Progress.WriteLine($"overhead {name} #{i + 1}: autobuilder {builds[^1].OverheadMs:0} ms overhead ({builds[^1].TotalMs:0} total), shell {shell[^1]:0} ms");
            }

            // Build commands are reaped as they exit; wait a moment for the last one.
            await Task.Delay(500, cancellationToken);
            var cpuAfter = target.CpuSeconds();
            double? serverCpu = cpuBefore is { } a && cpuAfter is { } b ? (b.Server - a.Server) * 1000 / reps : null;
            double? childCpu = cpuBefore is { } c && cpuAfter is { } d ? (d.Children - c.Children) * 1000 / reps : null;
            var overhead = Stats.Median(builds.Select(b => b.OverheadMs).ToList());
            var shellMedian = Stats.Median(shell);
            var row = new Row(name, files, reps, Stats.Round(overhead), Stats.Round(shellMedian), Stats.Round(overhead / shellMedian, 2),
                Stats.Round(Stats.Median(builds.Select(b => b.TotalMs).ToList())),
                Stats.Round(Stats.Median(builds.Select(b => b.UploadMs).ToList())),
                Stats.Round(Stats.Median(builds.Select(b => b.QueueMs).ToList())),
                Stats.Round(Stats.Median(builds.Select(b => b.StageMs).ToList())),
                Stats.Round(Stats.Median(builds.Select(b => b.BuildMs).ToList())),
                Stats.Round(Stats.Median(builds.Select(b => b.PublishMs).ToList())),
                builds.Count(b => !b.Succeeded) + (cold.Succeeded ? 0 : 1), Stats.Round(cold.OverheadMs),
                serverCpu is { } sc ? Stats.Round(sc) : null, childCpu is { } rc ? Stats.Round(rc) : null);
            rows.Add(row);
            table.Add([row.Size, row.Files.ToString(System.Globalization.CultureInfo.InvariantCulture), BenchReport.F(row.OverheadMedianMs), BenchReport.F(row.ShellMedianMs), BenchReport.F(row.Ratio, "0.00"),
                BenchReport.F(row.UploadMedianMs), BenchReport.F(row.QueueMedianMs), BenchReport.F(row.StageMedianMs), BenchReport.F(row.BuildMedianMs), BenchReport.F(row.PublishMedianMs), BenchReport.F(row.TotalMedianMs), row.Failures.ToString(System.Globalization.CultureInfo.InvariantCulture),
                BenchReport.F(row.ColdOverheadMs), BenchReport.F(row.ServerCpuMsPerBuild), BenchReport.F(row.ChildCpuMsPerBuild)]);
        }

        var tenMb = rows.Cast<Row>().Single(r => r.Size == "10MB");
        var report = run.Report(Name, target.Describe(), load, watch, rows,
        [
            new("overhead median, 10 MB / 1,000 files", "<= 500 ms", $"{tenMb.OverheadMedianMs:0} ms", tenMb.OverheadMedianMs <= 500),
            new("overhead vs bare shell pipeline, 10 MB", "<= 1.25x", $"{tenMb.Ratio:0.00}x", tenMb.Ratio <= 1.25),
        ],
        [
            $"{reps} runs per size after one untimed warm-up round (its overhead: 'cold overhead'), AutoBuilder and shell alternating; medians. Overhead = upload POST + (finished - queued) - build command.",
            "shell: " + ShellPipeline,
            "CPU ms per build: the server's own (in-process runners included) and its reaped children's (sandbox, build command), /proc/PID/stat; the bench's clients are not in it.",
        ]);
        report.WriteTable(run.Options.Output, ["size", "files", "overhead ms", "shell ms", "ratio", "upload", "queue", "stage", "build", "publish", "total", "failed", "cold overhead", "server CPU ms", "child CPU ms"], table);
        return report;
    }

    private static Task<double> ShellAsync(string zip, string outputFolder, CancellationToken cancellationToken) =>
        BenchRun.RunProcessAsync("sh", ["-c", ShellPipeline, "shell-pipeline", zip, outputFolder], null, cancellationToken);
}
