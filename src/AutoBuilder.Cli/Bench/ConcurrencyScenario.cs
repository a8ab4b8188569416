using System.Diagnostics;
using System.Globalization;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Scenario 2: N builds started at once (no-op and the maven sample), per-phase p50/p95, failures and the server's
/// peak memory; then the same with workspaces on the shared cache folder (the seed's AS-IS design), side by side.
/// </summary>
public sealed class ConcurrencyScenario : IBenchScenario
{
    /// <summary>Memory a concurrent Maven build is given room for before a step runs; less available and the step is skipped, not the machine swamped.</summary>
    private const double MavenMbPerBuild = 400;

    public string Name => "concurrency";

    public sealed record Row(string Workspace, string Workload, int N, int Failures,
        double QueueP50Ms, double QueueP95Ms, double StageP50Ms, double StageP95Ms, double BuildP50Ms, double BuildP95Ms,
        double PublishP50Ms, double PublishP95Ms, double TotalP50Ms, double TotalP95Ms, double OverheadP50Ms, double OverheadP95Ms,
        double WallMs, double? ServerPeakRssMb);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        int[] counts = run.Quick ? [1, 5] : [1, 5, 10, 20, 50];
        var noop = SourceArchives.CreateNoop(run.SourcesDirectory, "noop-1MB", 1_000_000, 100);
        var workloads = new List<(string Name, string Zip)> { ("noop", noop) };
        if (!run.Quick)
        {
            workloads.Add(("maven", await SourceArchives.PackSampleAsync(run.Options.RequireSamples(), "maven-hello", run.SourcesDirectory, cancellationToken)));
        }

        var notes = new List<string>
        {
            "noop = script build `true` on a 1 MB / 100-file source publishing all of it; maven = samples/maven-hello (offline repository).",
            "All N builds are uploaded at once; the embedded server runs up to 64 at a time (Dispatcher:MaxConcurrentBuilds=64), so queue wait is the platform's, not a limit's.",
        };
        var rows = new List<Row>();
        var placements = run.IsRemote ? new[] { false } : [false, true];
        if (run.IsRemote)
        {
            notes.Add("--server: the workspace placement of a remote server cannot be changed by the bench; only its own placement is measured, and its memory is not visible.");
        }

        var servers = new List<string>();
        // Workload by workload, scratch then cache, so the side-by-side figures of the no-op come first.
        foreach (var (workload, zip) in workloads)
        {
            foreach (var onCache in placements)
            {
                await using var target = await run.OpenTargetAsync(onCache, cancellationToken);
                servers.Add(target.Describe());
                var warmProject = await BenchRun.NewProjectAsync(target, "warm", cancellationToken);
                await BenchRun.BuildOnceAsync(target, warmProject, noop, TimeSpan.FromMinutes(5), cancellationToken);
                foreach (var n in counts)
                {
                    if (workload == "maven" && AvailableMemoryMb() is { } available && available < n * MavenMbPerBuild)
                    {
                        notes.Add($"{workload} N={n} ({(onCache ? "cache" : "scratch")}) skipped: {available:0} MB available, fewer than {n} x {MavenMbPerBuild:0} MB.");
                        continue;
                    }

                    rows.Add(await StepAsync(target, onCache ? "cache" : "scratch", workload, zip, n, cancellationToken));
                    var r = rows[^1];
                    run.Progress.WriteLine($"concurrency {r.Workspace} {r.Workload} N={r.N}: total p50 {r.TotalP50Ms:0} p95 {r.TotalP95Ms:0} ms, overhead p50 {r.OverheadP50Ms:0} ms, " +
                        $"stage p50 {r.StageP50Ms:0}, build p50 {r.BuildP50Ms:0}, publish p50 {r.PublishP50Ms:0}, queue p50 {r.QueueP50Ms:0} ms, failures {r.Failures}, peak RSS {BenchReport.F(r.ServerPeakRssMb)} MB");
                }
            }
        }

        var targets = new List<TargetCheck>();
        var one = rows.FirstOrDefault(r => r is { Workspace: "scratch", Workload: "noop", N: 1 });
        var most = rows.Where(r => r is { Workspace: "scratch", Workload: "noop" }).MaxBy(r => r.N);
        if (one is not null && most is not null && most.N > 1)
        {
            var ratio = most.OverheadP50Ms / Math.Max(1, one.OverheadP50Ms);
            targets.Add(new($"no-op overhead p50 at N={most.N} vs N=1", "<= 1.5x", $"{ratio:0.00}x ({most.OverheadP50Ms:0} vs {one.OverheadP50Ms:0} ms)", ratio <= 1.5));
        }

        targets.Add(new("failed builds", "0", rows.Sum(r => r.Failures).ToString(CultureInfo.InvariantCulture), rows.Sum(r => r.Failures) == 0));
        if (rows.Max(r => r.ServerPeakRssMb) is { } peak)
        {
            targets.Add(new("server peak RSS", "<= 300 MB", $"{peak:0} MB", peak <= 300));
        }

        var report = run.Report(Name, string.Join("; then ", servers), load, watch, rows.Cast<object>().ToList(), targets, notes);
        report.WriteTable(run.Options.Output,
            ["workspace", "workload", "N", "failed", "queue p50/p95", "stage p50/p95", "build p50/p95", "publish p50/p95", "total p50/p95", "overhead p50/p95", "wall ms", "peak RSS MB"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Workspace, r.Workload, r.N.ToString(CultureInfo.InvariantCulture), r.Failures.ToString(CultureInfo.InvariantCulture),
                Pair(r.QueueP50Ms, r.QueueP95Ms), Pair(r.StageP50Ms, r.StageP95Ms), Pair(r.BuildP50Ms, r.BuildP95Ms),
                Pair(r.PublishP50Ms, r.PublishP95Ms), Pair(r.TotalP50Ms, r.TotalP95Ms), Pair(r.OverheadP50Ms, r.OverheadP95Ms),
                BenchReport.F(r.WallMs), BenchReport.F(r.ServerPeakRssMb),
            ]));
        return report;
    }

    private static async Task<Row> StepAsync(BenchTarget target, string workspace, string workload, string zip, int n, CancellationToken cancellationToken)
    {
        var project = await BenchRun.NewProjectAsync(target, $"{workload}-{n}", cancellationToken);
        target.ResetPeak();
        var wall = Stopwatch.StartNew();
        var submitted = await Task.WhenAll(Enumerable.Range(0, n).Select(_ => BenchRun.SubmitAsync(target, project, zip, cancellationToken)));
        var uploads = submitted.ToDictionary(s => s.Build.Id, s => s.UploadMs, StringComparer.Ordinal);
        var done = await BuildWaiter.WaitAllAsync(target.Client, project, uploads.Keys, TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(workload == "maven" ? 30 : 10), cancellationToken);
        var wallMs = wall.Elapsed.TotalMilliseconds;
        var timings = done.Select(b => BuildTiming.From(b, uploads[b.Id])).ToList();
        List<double> Of(Func<BuildTiming, double> f) => timings.Select(f).ToList();
        return new Row(workspace, workload, n, timings.Count(t => !t.Succeeded),
            R(Stats.Median(Of(t => t.QueueMs))), R(Stats.P95(Of(t => t.QueueMs))),
            R(Stats.Median(Of(t => t.StageMs))), R(Stats.P95(Of(t => t.StageMs))),
            R(Stats.Median(Of(t => t.BuildMs))), R(Stats.P95(Of(t => t.BuildMs))),
            R(Stats.Median(Of(t => t.PublishMs))), R(Stats.P95(Of(t => t.PublishMs))),
            R(Stats.Median(Of(t => t.TotalMs))), R(Stats.P95(Of(t => t.TotalMs))),
            R(Stats.Median(Of(t => t.OverheadMs))), R(Stats.P95(Of(t => t.OverheadMs))),
            R(wallMs), target.PeakRssMb() is { } peak ? R(peak) : null);
    }

    private static double R(double value) => Stats.Round(value);

    private static string Pair(double p50, double p95) => $"{p50:0}/{p95:0}";

    private static double? AvailableMemoryMb()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
            return line is null ? null : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}
