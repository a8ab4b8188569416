using System.Diagnostics;
using System.Globalization;
using AutoBuilder.Core.Api;

namespace AutoBuilder.Cli.Bench;

/// <summary>Scenario 5: no-op builds completed per second, sustained over a window, with a steady backlog of submitted builds.</summary>
public sealed class ThroughputScenario : IBenchScenario
{
    public string Name => "throughput";

    public sealed record Row(double WindowSeconds, int InFlight, int Completed, double BuildsPerSecond, int Failures, double TotalP50Ms, double TotalP95Ms, double? ServerPeakRssMb,
        double? ServerCpuMsPerBuild, double? ChildCpuMsPerBuild, double? CpuBoundBuildsPerSecond);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        var window = TimeSpan.FromSeconds(run.Quick ? 10 : 60);
        var warmup = TimeSpan.FromSeconds(run.Quick ? 2 : 5);
        var inFlight = Math.Max(8, 4 * Environment.ProcessorCount);
        var zip = SourceArchives.CreateNoop(run.SourcesDirectory, "noop-tiny", 0, 0);

        await using var target = await run.OpenTargetAsync(workspaceOnCache: false, cancellationToken);
        var server = target.Describe();
        var project = await BenchRun.NewProjectAsync(target, "throughput", cancellationToken);
        await BenchRun.BuildOnceAsync(target, project, zip, TimeSpan.FromMinutes(2), cancellationToken);
        target.ResetPeak();

        var pending = new Dictionary<string, double>(StringComparer.Ordinal);
        var finished = new List<BuildTiming>();
        var clock = Stopwatch.StartNew();
        TimeSpan? measureStart = null;
        (double Server, double Children)? cpuStart = null;
        var counted = 0;
        var failed = 0;
        // A busy machine may see no build end within the window: it is then extended until 3 have (at most to 90 s
        // with --quick, 5 min without) rather than report zero; the report says how long it measured.
        var longest = run.Quick ? TimeSpan.FromSeconds(90) : TimeSpan.FromMinutes(5);
        // The window counts from when measuring really began (the first poll past the warm-up), so it is never short.
        while (measureStart is not { } started || clock.Elapsed - started < window || (counted < 3 && clock.Elapsed - started < longest))
        {
            // Keep the backlog full: the server must never wait for the bench.
            var missing = inFlight - pending.Count;
            if (missing > 0)
            {
                foreach (var (build, uploadMs) in await Task.WhenAll(Enumerable.Range(0, missing).Select(_ => BenchRun.SubmitAsync(target, project, zip, cancellationToken))))
                {
                    pending[build.Id] = uploadMs;
                }
            }

            await Task.Delay(100, cancellationToken);
            var ended = await BuildWaiter.PollAsync(target.Client, project, pending.Keys, cancellationToken);
            if (measureStart is null && clock.Elapsed >= warmup)
            {
                measureStart = clock.Elapsed;
                cpuStart = target.CpuSeconds();
            }
            foreach (var build in ended)
            {
                var timing = BuildTiming.From(build, pending[build.Id]);
                pending.Remove(build.Id);
                if (measureStart is not null)
                {
                    counted++;
                    failed += timing.Succeeded ? 0 : 1;
                    finished.Add(timing);
                }
            }
        }

        var seconds = (clock.Elapsed - (measureStart ?? warmup)).TotalSeconds;
        var peak = target.PeakRssMb();
        var cpuEnd = target.CpuSeconds();
        double? serverCpu = cpuStart is { } a && cpuEnd is { } b && counted > 0 ? (b.Server - a.Server) * 1000 / counted : null;
        double? childCpu = cpuStart is { } c && cpuEnd is { } d && counted > 0 ? (d.Children - c.Children) * 1000 / counted : null;
        double? bound = serverCpu + childCpu is { } perBuild && perBuild > 0 ? Environment.ProcessorCount * 1000 / perBuild : null;
        foreach (var id in pending.Keys)
        {
            await CancelQuietlyAsync(target, id);
        }

        var totals = finished.Select(t => t.TotalMs).ToList();
        var row = new Row(Stats.Round(seconds), inFlight, counted, Stats.Round(counted / seconds, 2), failed, Stats.Round(Stats.Median(totals)), Stats.Round(Stats.P95(totals)), peak is { } p ? Stats.Round(p) : null,
            serverCpu is { } sc ? Stats.Round(sc) : null, childCpu is { } rc ? Stats.Round(rc) : null, bound is { } bd ? Stats.Round(bd, 2) : null);
        var report = run.Report(Name, server, load, watch, [row],
        [
            new("no-op builds completed per second, sustained", ">= 5/s", $"{row.BuildsPerSecond:0.00}/s over {row.WindowSeconds:0} s", row.BuildsPerSecond >= 5),
            new("failed builds", "0", failed.ToString(CultureInfo.InvariantCulture), failed == 0),
        ],
        [
            $"A tiny no-op source (autobuilder.yml only); {inFlight} builds kept submitted at all times; {warmup.TotalSeconds:0} s warm-up not counted; window {window.TotalSeconds:0} s, extended (to {longest.TotalSeconds:0} s at most) until 3 builds have ended; completions counted as the client sees them (poll 100 ms).",
            "CPU per build = the server's own CPU (in-process runners included) and its reaped children's (sandbox, build command) over the window / builds completed (/proc/PID/stat); cores / CPU per build = the most this machine could complete per second.",
        ]);
        report.WriteTable(run.Options.Output, ["window s", "in flight", "completed", "builds/s", "failed", "total p50 ms", "total p95 ms", "peak RSS MB", "server CPU ms/build", "child CPU ms/build", "CPU-bound builds/s"],
        [
            [
                BenchReport.F(row.WindowSeconds), row.InFlight.ToString(CultureInfo.InvariantCulture), row.Completed.ToString(CultureInfo.InvariantCulture),
                BenchReport.F(row.BuildsPerSecond, "0.00"), row.Failures.ToString(CultureInfo.InvariantCulture), BenchReport.F(row.TotalP50Ms), BenchReport.F(row.TotalP95Ms), BenchReport.F(row.ServerPeakRssMb),
                BenchReport.F(row.ServerCpuMsPerBuild), BenchReport.F(row.ChildCpuMsPerBuild), BenchReport.F(row.CpuBoundBuildsPerSecond, "0.00"),
            ],
        ]);
        return report;
    }

    private static async Task CancelQuietlyAsync(BenchTarget target, string buildId)
    {
        try
        {
            await target.Client.CancelBuildAsync(buildId, CancellationToken.None);
        }
        catch (Client.AutoBuilderClientException)
        {
            // Ended meanwhile.
        }
    }
}
