using System.Diagnostics;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Scenario 4: a large source upload and its result download through the API, in MB/s beside `cp` of the same file
/// on the same disk, with the server's peak memory growth during each.
/// </summary>
public sealed class TransferScenario : IBenchScenario
{
    public string Name => "transfer";

    public sealed record Row(string Direction, long Bytes, double Seconds, double MegabytesPerSecond, double CpMegabytesPerSecond, double RatioToCp,
        double DurableCpMegabytesPerSecond, double RatioToDurableCp, double? ServerMemoryGrowthMb, double? ServerCpuMsPerMb);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        var bytes = run.Quick ? 64L << 20 : 1L << 30;
        var zip = SourceArchives.CreateLarge(run.SourcesDirectory, bytes);
        var size = new FileInfo(zip).Length;

        await using var target = await run.OpenTargetAsync(workspaceOnCache: false, cancellationToken);
        var server = target.Describe();
        var project = await BenchRun.NewProjectAsync(target, "transfer", cancellationToken);
        var copies = Path.Combine(run.Options.TempRoot, "copies");
        Directory.CreateDirectory(copies);

        // cp on the same disk, median of three (the page cache is warm for both sides); and a durable copy, cp then
        // fsync of the copy (`sync FILE`), which is what the server does before it answers 201.
        var cp = new List<double>();
        var durableCp = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var copy = Path.Combine(copies, "cp.zip");
            cp.Add(await BenchRun.RunProcessAsync("cp", [zip, copy], null, cancellationToken));
            File.Delete(copy);
            durableCp.Add(await BenchRun.RunProcessAsync("sh", ["-c", "cp \"$1\" \"$2\" && sync \"$2\"", "durable-copy", zip, copy], null, cancellationToken));
            File.Delete(copy);
        }

        var cpMBps = size / 1e6 / (Stats.Median(cp) / 1000);
        var durableCpMBps = size / 1e6 / (Stats.Median(durableCp) / 1000);
        run.Progress.WriteLine($"transfer: cp {cpMBps:0} MB/s, cp + fsync {durableCpMBps:0} MB/s");

        // One small source up, built and down first, untimed: the server's upload and download paths are then warm.
        var warm = SourceArchives.CreateNoop(run.SourcesDirectory, "noop-1MB", 1_000_000, 100);
        await BenchRun.BuildOnceAsync(target, project, warm, TimeSpan.FromMinutes(5), cancellationToken);

        // Upload: POST the ZIP as a source (streamed), then build it so its result.zip can come back.
        var rssBefore = target.RssMb();
        target.ResetPeak();
        var cpu = target.CpuSeconds();
        var upload = Stopwatch.StartNew();
        Core.Api.SourceDto source;
        await using (var input = new FileStream(zip, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            source = await target.Client.UploadSourceAsync(project, input, cancellationToken);
        }

        var uploadSeconds = upload.Elapsed.TotalSeconds;
        var uploadGrowth = target.PeakRssMb() - rssBefore;
        var uploadCpu = target.CpuSeconds()?.Server - cpu?.Server;
        run.Progress.WriteLine($"transfer: upload {size / 1e6 / uploadSeconds:0} MB/s");

        var build = await target.Client.CreateBuildAsync(project, new Core.Api.CreateBuildRequest(source.Id), cancellationToken);
        var done = await BuildWaiter.WaitAllAsync(target.Client, project, [build.Id], TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(20), cancellationToken);
        if (done[0].Status != Core.Builds.BuildStatus.Succeeded)
        {
            throw new BenchException($"the transfer build {build.Id} ended {done[0].Status}: {done[0].Error}");
        }

        var link = await target.Client.GetResultLinkAsync(build.Id, cancellationToken);
        var downloaded = Path.Combine(copies, "result.zip");
        rssBefore = target.RssMb();
        target.ResetPeak();
        cpu = target.CpuSeconds();
        var download = Stopwatch.StartNew();
        await using (var output = new FileStream(downloaded, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
        {
            await target.Client.DownloadAsync(link.Url, output, cancellationToken: cancellationToken);
        }

        var downloadSeconds = download.Elapsed.TotalSeconds;
        var downloadGrowth = target.PeakRssMb() - rssBefore;
        var downloadCpu = target.CpuSeconds()?.Server - cpu?.Server;
        var resultSize = new FileInfo(downloaded).Length;
        File.Delete(downloaded);

        Row Make(string direction, long length, double seconds, double? growth, double? cpuSeconds)
        {
            var mbps = length / 1e6 / seconds;
            return new Row(direction, length, Stats.Round(seconds, 2), Stats.Round(mbps), Stats.Round(cpMBps), Stats.Round(mbps / cpMBps, 2),
                Stats.Round(durableCpMBps), Stats.Round(mbps / durableCpMBps, 2), growth is { } g ? Stats.Round(g) : null,
                cpuSeconds is { } c ? Stats.Round(c * 1000 / (length / 1e6), 2) : null);
        }

        var rows = new List<Row> { Make("upload", size, uploadSeconds, uploadGrowth, uploadCpu), Make("download", resultSize, downloadSeconds, downloadGrowth, downloadCpu) };
        var targets = new List<TargetCheck>
        {
            new($"{bytes >> 20} MiB source upload vs a durable local copy (cp + fsync)", ">= 0.80x",
                $"{rows[0].RatioToDurableCp:0.00}x ({rows[0].MegabytesPerSecond:0} vs {rows[0].DurableCpMegabytesPerSecond:0} MB/s; vs plain cp into the page cache {rows[0].RatioToCp:0.00}x)", rows[0].RatioToDurableCp >= 0.8),
        };
        if (uploadGrowth is { } up)
        {
            targets.Add(new("server memory growth during the upload", "<= 64 MB", $"{up:0} MB", up <= 64));
        }

        var report = run.Report(Name, server, load, watch, rows.Cast<object>().ToList(), targets,
        [
            $"Source: one stored (incompressible) file of {bytes >> 20} MiB in a ZIP; upload = POST .../sources (streamed, hashed and checked by the server); download = result.zip of a no-op build publishing that file, through its signed link.",
            "cp = median of three `cp` of the same ZIP on the same disk (page cache warm; it returns before the data is on disk). cp + fsync = the same copy then `sync FILE`: durable, as an upload is when the server answers 201 (it fsyncs the blob). An untimed 1 MB build runs first. Memory growth = the server's peak RSS during the transfer minus its RSS just before (VmHWM reset through /proc/PID/clear_refs). Server CPU ms/MB = the server process's CPU during the transfer / MB moved: 1000 / it is the MB/s one core of the server could sustain.",
        ]);
        report.WriteTable(run.Options.Output, ["direction", "bytes", "seconds", "MB/s", "cp MB/s", "vs cp", "cp+fsync MB/s", "vs cp+fsync", "server mem growth MB", "server CPU ms/MB"],
            rows.Select(r => (IReadOnlyList<string>)
            [
                r.Direction, r.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), BenchReport.F(r.Seconds, "0.00"), BenchReport.F(r.MegabytesPerSecond),
                BenchReport.F(r.CpMegabytesPerSecond), BenchReport.F(r.RatioToCp, "0.00"),
                BenchReport.F(r.DurableCpMegabytesPerSecond), BenchReport.F(r.RatioToDurableCp, "0.00"), BenchReport.F(r.ServerMemoryGrowthMb), BenchReport.F(r.ServerCpuMsPerMb, "0.00"),
            ]));
        return report;
    }
}
