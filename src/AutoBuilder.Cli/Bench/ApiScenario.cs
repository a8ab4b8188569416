using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Scenario 3: C concurrent clients each polling build status, listing builds and reading logs in turn for a fixed
/// time while 20 builds run: requests per second, p50/p99 latency and errors per kind of request.
/// </summary>
public sealed class ApiScenario : IBenchScenario
{
    private const int RunningBuilds = 20;

    public string Name => "api";

    /// <summary>How often one polling client asks: as a CLI or a page watching a build would, and faster than most.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public sealed record Row(string Mode, int Clients, string Request, long Requests, double RequestsPerSecond, double P50Ms, double P99Ms, long Errors, string? FirstError, double? ServerCpuMsPerRequest);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        int[] clientCounts = run.Quick ? [20] : [100, 200];
        var window = TimeSpan.FromSeconds(run.Quick ? 5 : 20);

        await using var target = await run.OpenTargetAsync(workspaceOnCache: false, cancellationToken);
        var server = target.Describe();
        var project = await BenchRun.NewProjectAsync(target, "api", cancellationToken);

        // Builds that stay running through every window (and log a line a second), cancelled at the end.
        var seconds = (int)(window.TotalSeconds * clientCounts.Length) + 120;
        var sleeper = CreateSleeper(run.SourcesDirectory, seconds);
        var builds = (await Task.WhenAll(Enumerable.Range(0, RunningBuilds).Select(_ => BenchRun.SubmitAsync(target, project, sleeper, cancellationToken))))
            .Select(s => s.Build.Id).ToArray();
        await WaitRunningAsync(target.Client, project, builds.Length, cancellationToken);
        run.Progress.WriteLine($"api: {builds.Length} builds running");

        var rows = new List<Row>();
        try
        {
            // An untimed round first, as on a server that has been answering for a while: JIT and tiering, pools.
            await MeasureAsync(target, project, builds, clientCounts[0], TimeSpan.FromSeconds(run.Quick ? 2 : 5), null, cancellationToken);
            foreach (var clients in clientCounts)
            {
                foreach (var pace in new TimeSpan?[] { PollInterval, null })
                {
                    rows.AddRange(await MeasureAsync(target, project, builds, clients, window, pace, cancellationToken));
                    run.Progress.WriteLine($"api {clients} clients, {rows[^1].Mode}: {rows[^1].RequestsPerSecond:0} req/s, p99 {rows[^1].P99Ms:0} ms, errors {rows[^1].Errors}");
                }
            }
        }
        finally
        {
            foreach (var id in builds)
            {
                try
                {
                    await target.Client.CancelBuildAsync(id, CancellationToken.None);
                }
                catch (AutoBuilderClientException)
                {
                    // Ended already.
                }
            }
        }

        var targets = new List<TargetCheck>();
        foreach (var all in rows.Where(r => r.Request == "status+list" && r.Mode == Polling))
        {
            targets.Add(new($"status/list p99, {all.Clients} clients, {RunningBuilds} builds running", "<= 50 ms", $"{all.P99Ms:0.0} ms", all.P99Ms <= 50));
            targets.Add(new($"errors, {all.Clients} clients", "0", all.Errors.ToString(CultureInfo.InvariantCulture), all.Errors == 0));
        }

        var report = run.Report(Name, server, load, watch, rows.Cast<object>().ToList(), targets,
        [
            $"{window.TotalSeconds:0} s per client count and mode, after an untimed warm-up round; each client cycles status -> list -> log (whole log, not followed); latency is the client's, to the last byte.",
            $"{Polling}: each client sends one request every {PollInterval.TotalSeconds:0} s (random phase), as clients watching builds do; the targets are judged on it. {Saturation}: each client sends its next request as soon as the last is answered, so there are always N requests in flight and latency = N / throughput (Little's law): it measures the most requests per second the machine serves, not what a polling client waits.",
            "The clients run in the bench process on the same cores as the server: client CPU is part of the latency. Server CPU ms/req = the server process's CPU over the window / requests answered; it includes the running builds' in-process runners (log shipping, heartbeats), which dominate it when polling.",
            "Any non-2xx answer (429 included) or failed connection is an error. The embedded server's rate limit is raised to 1,000,000/s (RateLimits) so the limiter is not what is measured.",
        ]);
        report.WriteTable(run.Options.Output, ["mode", "clients", "request", "requests", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Mode, r.Clients.ToString(CultureInfo.InvariantCulture), r.Request, r.Requests.ToString(CultureInfo.InvariantCulture),
                BenchReport.F(r.RequestsPerSecond), BenchReport.F(r.P50Ms, "0.0"), BenchReport.F(r.P99Ms, "0.0"), r.Errors.ToString(CultureInfo.InvariantCulture), BenchReport.F(r.ServerCpuMsPerRequest, "0.00"),
            ]));
        return report;
    }

    private const string Polling = "polling";
    private const string Saturation = "saturation";

    /// <summary>One window of <paramref name="clients"/> clients: one request per <paramref name="pace"/> each, or back to back when null.</summary>
    private static async Task<IEnumerable<Row>> MeasureAsync(BenchTarget target, string project, string[] builds, int clients, TimeSpan window, TimeSpan? pace, CancellationToken cancellationToken)
    {
        var mode = pace is null ? Saturation : Polling;
        var kinds = new[] { "status", "list", "log" };
        var latencies = kinds.ToDictionary(k => k, _ => new ConcurrentBag<double>());
        var errors = kinds.ToDictionary(k => k, _ => 0L);
        string? firstError = null;
        var errorLock = new object();
        var client = target.Client;
        var cpuBefore = target.CpuSeconds();
        var deadline = Stopwatch.StartNew();

        async Task ClientAsync(int index)
        {
            var random = new Random(index);
            var due = pace is { } first ? first * random.NextDouble() : TimeSpan.Zero;
            for (var i = index; deadline.Elapsed < window; i++)
            {
                if (pace is { } interval)
                {
                    if (due > deadline.Elapsed)
                    {
                        await Task.Delay(due - deadline.Elapsed, cancellationToken);
                    }

                    due += interval;
                    if (deadline.Elapsed >= window)
                    {
                        break;
                    }
                }

                var kind = kinds[i % kinds.Length];
                var build = builds[random.Next(builds.Length)];
                var started = Stopwatch.GetTimestamp();
                try
                {
                    switch (kind)
                    {
                        case "status":
                            await client.GetBuildAsync(build, cancellationToken);
                            break;
                        case "list":
                            await client.GetBuildsAsync(project, cancellationToken);
                            break;
                        default:
                            await client.CopyLogToAsync(build, Stream.Null, follow: false, cancellationToken);
                            break;
                    }

                    latencies[kind].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (Exception e) when (e is AutoBuilderClientException or HttpRequestException or IOException)
                {
                    lock (errorLock)
                    {
                        errors[kind]++;
                        firstError ??= e.Message;
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientAsync(i), cancellationToken)));
        var elapsed = deadline.Elapsed.TotalSeconds;
        var cpuAfter = target.CpuSeconds();
        var total = latencies.Values.Sum(l => l.Count);
        double? cpuPerRequest = cpuBefore is { } a && cpuAfter is { } b && total > 0 ? Stats.Round((b.Server - a.Server) * 1000 / total, 2) : null;

        Row Make(string name, IEnumerable<string> of)
        {
            var values = of.SelectMany(k => latencies[k]).ToList();
            var failed = of.Sum(k => errors[k]);
            return new Row(mode, clients, name, values.Count + failed, Stats.Round(values.Count / elapsed), Stats.Round(Stats.Median(values), 2), Stats.Round(Stats.P99(values), 2), failed, failed > 0 ? firstError : null, cpuPerRequest);
        }

        return [Make("status", ["status"]), Make("list", ["list"]), Make("log", ["log"]), Make("status+list", ["status", "list"]), Make("all", kinds)];
    }

    private static async Task WaitRunningAsync(AutoBuilderClient client, string project, int count, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var running = (await client.GetBuildsAsync(project, cancellationToken)).Count(b => b.Status == Core.Builds.BuildStatus.Running);
            if (running >= count)
            {
                return;
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new BenchException($"only {running} of {count} builds were running after 2 minutes.");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>A script build that logs a line a second for <paramref name="seconds"/>.</summary>
    private static string CreateSleeper(string directory, int seconds)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"sleeper-{seconds}.zip");
        if (!File.Exists(path))
        {
            using var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create);
            using var writer = new StreamWriter(zip.CreateEntry("autobuilder.yml").Open(), new UTF8Encoding(false));
            writer.Write($"toolchain: script\ncommand: \"i=0; while [ $i -lt {seconds} ]; do echo tick $i; i=$((i+1)); sleep 1; done\"\ntimeout: {seconds + 60}s\n");
        }

        return path;
    }
}
