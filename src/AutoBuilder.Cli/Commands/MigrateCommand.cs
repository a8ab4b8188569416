using System.CommandLine;
using System.Globalization;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.LegacyImport;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary>
/// `autobuilder migrate`: copies a legacy volume (the seed's PVC tree) into the blob and metadata stores that `serve`
/// would use with the same --data and --config, then verifies every blob against its legacy file.
/// </summary>
internal static class MigrateCommand
{
    private const int MaxParallelism = 256;

    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "The legacy volume: a folder with uploads/, projects/, artifacts/ (and .m2/, .gradle/)", HelpName = "DIR", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the plan (counts, bytes, renamed and unrecognised paths) and write nothing" };
        var verifyOnly = new Option<bool>("--verify-only") { Description = "Copy nothing: compare every migrated blob's SHA-256 with its legacy file and report" };
        var parallel = new Option<int?>("--parallel") { Description = "Files copied at once [default: 4 for the filesystem store, 16 for Azure]", HelpName = "N" };
        var includeCache = new Option<bool>("--include-cache") { Description = "Also copy .m2/repository and .gradle/caches into the cache container" };
        var owner = new Option<string>("--owner") { Description = "The user who owns the imported projects (must exist)", HelpName = "USER", DefaultValueFactory = _ => "admin" };
        var data = ServerConfigurationOptions.Data();
        var config = ServerConfigurationOptions.Config();

        var command = new Command("migrate", "Copy a legacy build volume into blob storage and the metadata store, verified. Exit code 0 when the verification is clean, 1 when it is not, 2 on errors.")
        {
            from, dryRun, verifyOnly, parallel, includeCache, owner, data, config,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var request = new Request(
                parseResult.GetValue(from)!, parseResult.GetValue(dryRun), parseResult.GetValue(verifyOnly), parseResult.GetValue(parallel),
                parseResult.GetValue(includeCache), parseResult.GetValue(owner)!, parseResult.GetValue(data)!, parseResult.GetValue(config));
            try
            {
                return await RunAsync(request, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("autobuilder migrate: interrupted; run it again to finish (nothing is copied twice).");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (e is LegacyImportException or OptionsValidationException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"autobuilder migrate: {e.Message}");
                return ExitCodes.Error;
            }
        });
        return command;
    }

    private sealed record Request(string From, bool DryRun, bool VerifyOnly, int? Parallel, bool IncludeCache, string Owner, string Data, string? Config);

    private static async Task<int> RunAsync(Request request, CancellationToken cancellationToken)
    {
        if (request.DryRun && request.VerifyOnly)
        {
            throw new LegacyImportException("--dry-run and --verify-only exclude each other: a dry run only plans, a verification reads the store.");
        }

        if (request.Parallel is < 1 or > MaxParallelism)
        {
            throw new LegacyImportException($"--parallel must be between 1 and {MaxParallelism}.");
        }

        var legacyRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.From));
        var dataRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.Data));
        if (IsInside(dataRoot, legacyRoot) || IsInside(legacyRoot, dataRoot))
        {
            throw new LegacyImportException($"The data folder '{dataRoot}' and the legacy volume '{legacyRoot}' overlap; the legacy volume is only read, so keep the data elsewhere.");
        }

        var volume = LegacyVolume.Scan(request.From, request.IncludeCache);
        WritePlan(volume);
        if (request.DryRun)
        {
            Console.WriteLine("Dry run: nothing was written.");
            return ExitCodes.Success;
        }

        var app = AutoBuilderServer.Build(new ServeRequest(request.Data, "http://127.0.0.1:8080", ServerRole.Api, request.Config));
        await using (app)
        {
            await app.InitializeAsync(cancellationToken);
            var provider = app.Services.GetRequiredService<IOptions<StorageOptions>>().Value.Provider;
            var parallelism = request.Parallel ?? (provider == StorageProvider.FileSystem ? 4 : 16);
            await using var scope = app.Services.CreateAsyncScope();
            var services = scope.ServiceProvider;

            LegacyImportReport report;
            if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            {
                using var progress = new PlainProgress(Console.Out);
                var importer = new LegacyVolumeImporter(services.GetRequiredService<IBlobStore>(), services.GetRequiredService<BlobLayout>(), services.GetRequiredService<AutoBuilderDbContext>(), progress);
                report = await importer.RunAsync(volume, new LegacyImportSettings(request.Owner, parallelism, request.VerifyOnly), cancellationToken);
            }
            else
            {
                report = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .StartAsync(async context =>
                    {
                        var importer = new LegacyVolumeImporter(services.GetRequiredService<IBlobStore>(), services.GetRequiredService<BlobLayout>(), services.GetRequiredService<AutoBuilderDbContext>(), new BarProgress(context));
                        return await importer.RunAsync(volume, new LegacyImportSettings(request.Owner, parallelism, request.VerifyOnly), cancellationToken);
                    });
            }

            WriteReport(volume, report, request.VerifyOnly);
            return report.Clean ? ExitCodes.Success : ExitCodes.BuildFailed;
        }
    }

    private static bool IsInside(string path, string folder) =>
        path == folder || path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static void WritePlan(LegacyVolume volume)
    {
        var projects = volume.Projects;
        var files = volume.Files.ToList();
        Console.WriteLine($"Legacy volume {volume.Root}: {N(projects.Count)} projects, {N(files.Count)} files, {Bytes(files.Sum(f => f.Size))} to migrate");
        Line("sources", projects.Where(p => p.Source is not null).Select(p => p.Source!));
        Line("build results", projects.Where(p => p.Result is not null).Select(p => p.Result!));
        Line("build logs", projects.SelectMany(p => p.Logs).Select(l => l.File));
        Line("artifacts", projects.SelectMany(p => p.Artifacts).Select(a => a.File));
        Console.WriteLine($"  imported builds {N(projects.Count(p => p.HasBuild)),7}");
        if (volume.IncludeCache)
        {
            Line("cache files", volume.CacheFiles.Select(c => c.File));
        }
        else if (volume.SkippedCacheFiles > 0)
        {
            Console.WriteLine($"  cache files     {N(volume.SkippedCacheFiles),7} {Bytes(volume.SkippedCacheBytes),10}  left out: add --include-cache to copy them");
        }

        if (volume.Renamed.Count > 0)
        {
            Console.WriteLine($"Renamed ({N(volume.Renamed.Count)}; AutoBuilder ids and file names allow only ASCII letters, digits and . _ + -):");
            foreach (var renamed in volume.Renamed)
            {
                Console.WriteLine($"  {renamed.RelativePath} -> {renamed.NewName}");
            }
        }

        if (volume.Unrecognised.Count > 0)
        {
            Console.WriteLine($"Not recognised, not migrated ({N(volume.Unrecognised.Count)}; check them before deleting the volume):");
            foreach (var path in volume.Unrecognised)
            {
                var size = path.IsDirectory ? $"folder, {N(path.Files)} files, {Bytes(path.Bytes)}" : Bytes(path.Bytes);
                Console.WriteLine($"  {path.RelativePath} ({size}): {path.Reason}");
            }
        }

        static void Line(string name, IEnumerable<LegacyFile> files)
        {
            var list = files.ToList();
            Console.WriteLine($"  {name,-15} {N(list.Count),7} {Bytes(list.Sum(f => f.Size)),10}");
        }
    }

    private static void WriteReport(LegacyVolume volume, LegacyImportReport report, bool verifyOnly)
    {
        Console.WriteLine(verifyOnly
            ? $"Verify only (nothing copied): {N(report.Files)} files, {Bytes(report.Bytes)}: {N(report.Verified)} identical, mismatched {N(report.Mismatched.Count)}, missing {N(report.Missing.Count)}"
            : $"Migrated {N(report.Files)} files, {Bytes(report.Bytes)}: copied {N(report.Copied)} ({Bytes(report.CopiedBytes)}), skipped {N(report.Skipped)} already identical, failed {N(report.Failed.Count)}; " +
              $"verified {N(report.Verified)}, mismatched {N(report.Mismatched.Count)}, missing {N(report.Missing.Count)}");
        foreach (var (label, problems) in new[] { ("FAILED", report.Failed), ("MISMATCHED", report.Mismatched), ("MISSING", report.Missing) })
        {
            foreach (var problem in problems.OrderBy(p => p.RelativePath, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {label} {problem.RelativePath} -> {problem.Target}: {problem.Reason}");
            }
        }

        if (report.Clean)
        {
            Console.WriteLine(volume.Unrecognised.Count == 0
                ? "Verification clean: every file is in the blob store with the same SHA-256 and every record exists. The old volume may be deleted."
                : $"Verification clean: every migrated file is in the blob store with the same SHA-256 and every record exists. The old volume may be deleted once the {N(volume.Unrecognised.Count)} unrecognised path(s) listed above are dealt with.");
        }
        else
        {
            Console.WriteLine($"Verification NOT clean ({N(report.Failed.Count)} failed, {N(report.Mismatched.Count)} mismatched, {N(report.Missing.Count)} missing): do not delete the old volume. Fix the causes above and run again.");
        }
    }

    internal static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    internal static string Bytes(double bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        var unit = 0;
        while (Math.Abs(bytes) >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes:0} B" : string.Create(CultureInfo.InvariantCulture, $"{bytes:0.0} {units[unit]}");
    }

    /// <summary>On a terminal: one Spectre bar per phase (bytes, speed, ETA) with the file count in its description.</summary>
    private sealed class BarProgress(ProgressContext context) : ILegacyImportProgress
    {
        private ProgressTask? _task;
        private string _name = "";
        private int _files;
        private int _done;

        public void BeginPhase(string name, int files, long bytes)
        {
            _name = name;
            _files = files;
            _done = 0;
            _task = context.AddTask(Describe(), maxValue: Math.Max(1, bytes));
        }

        public void Advance(int files, long bytes)
        {
            var task = _task!;
            if (files != 0)
            {
                task.Description = Describe(Interlocked.Add(ref _done, files));
            }

            if (bytes != 0)
            {
                task.Increment(bytes);
            }
        }

        public void EndPhase()
        {
            _task!.Value = _task.MaxValue;
            _task.StopTask();
        }

        private string Describe(int done = 0) => $"{_name} {N(done)}/{N(_files)} files";
    }

    /// <summary>When output is not a terminal: a plain line every second (files, bytes, throughput, ETA) and one at the end of each phase.</summary>
    private sealed class PlainProgress : ILegacyImportProgress, IDisposable
    {
        private readonly TextWriter _output;
        private readonly Timer _timer;
        private readonly System.Diagnostics.Stopwatch _clock = new();
        private string _name = "";
        private int _files;
        private long _bytes;
        private int _doneFiles;
        private long _doneBytes;

        public PlainProgress(TextWriter output)
        {
            _output = output;
            _timer = new Timer(_ => Print(final: false), null, Timeout.Infinite, Timeout.Infinite);
        }

        public void BeginPhase(string name, int files, long bytes)
        {
            (_name, _files, _bytes, _doneFiles, _doneBytes) = (name, files, bytes, 0, 0);
            _clock.Restart();
            _timer.Change(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }

        public void Advance(int files, long bytes)
        {
            Interlocked.Add(ref _doneFiles, files);
            Interlocked.Add(ref _doneBytes, bytes);
        }

        public void EndPhase()
        {
            _timer.Change(Timeout.Infinite, Timeout.Infinite);
            Print(final: true);
        }

        public void Dispose() => _timer.Dispose();

        private void Print(bool final)
        {
            var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            var done = Interlocked.Read(ref _doneBytes);
            var speed = done / seconds;
            var eta = speed > 0 ? TimeSpan.FromSeconds(Math.Max(0, _bytes - done) / speed) : (TimeSpan?)null;
            var line = $"{_name}: {N(Volatile.Read(ref _doneFiles))}/{N(_files)} files, {Bytes(done)}/{Bytes(_bytes)}, {Bytes(speed)}/s, " +
                       (final ? $"done in {seconds:0.0} s" : $"ETA {(eta is { } e ? e.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "unknown")}");
            lock (_output)
            {
                _output.WriteLine(line);
                _output.Flush();
            }
        }
    }
}
