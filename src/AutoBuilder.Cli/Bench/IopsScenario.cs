using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Item 7: an IOPS model, labelled as a model. Counts the file operations of one real (warm) Maven build of
/// samples/maven-hello under strace, splits them into those on the workspace and the Maven repository (which the
/// seed's AS-IS design keeps on one shared Azure Files volume) and the rest (JDK, Maven itself: local), and predicts
/// build time at 1–50 concurrent builds on a shared 3,100-IOPS volume against local scratch.
/// </summary>
public sealed partial class IopsScenario : IBenchScenario
{
    /// <summary>A 100 GiB Azure Files premium share: 3,000 baseline + 1 per GiB.</summary>
    public const double ShareIops = 3100;

    /// <summary>The calls that reach the file system (each one an SMB request on a network share).</summary>
    private static readonly HashSet<string> FileCalls = new(StringComparer.Ordinal)
    {
        "open", "openat", "openat2", "creat", "close", "read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev", "pwritev", "pwritev2",
        "lseek", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
        "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
        "fsync", "fdatasync", "ftruncate", "truncate", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "utimensat", "flock", "fcntl", "copy_file_range", "sendfile",
    };

    public string Name => "iops";

    public sealed record SyscallRow(string Syscall, long Calls);

    public sealed record Measured(double BuildSeconds, long FileOpsTotal, long WorkspaceOps, long RepositoryOps, long OtherOps, long SharedOps, long StraceSummaryCalls);

    public sealed record Prediction(int ConcurrentBuilds, double LocalScratchSeconds, double SharedVolumeSeconds, double SharedIoSeconds, double SharedIopsPerBuild);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        var samples = run.Options.RequireSamples();
        var root = Path.Combine(run.Options.TempRoot, "iops");
        var workspace = Path.Combine(root, "workspace");
        var repository = Path.Combine(root, "cache", "maven", "repository");
        CopyDirectory(Path.Combine(samples, "maven-hello"), workspace);
        Directory.CreateDirectory(repository);
        var settings = run.Options.MavenSettings ?? throw new BenchException("The iops scenario needs samples/maven-settings-offline.xml (Maven Central is not reachable offline).");
        // The runner's own Maven command line (ToolchainResolver), without the sandbox.
        string[] maven = ["mvn", "-B", "-q", "-s", settings, $"-Dmaven.repo.local={repository}", "package"];

        // The first build fills the repository (the shared cache) from the mirror; the measured ones are warm.
        var cold = await MavenAsync(run, maven, workspace, prefix: [], cancellationToken);
        run.Progress.WriteLine($"iops: cold build {cold / 1000:0.0} s");
        // --quick times no warm build of its own: T1 is then the cold build's time (an overestimate, said in the notes).
        var warm = new List<double>();
        for (var i = 0; i < (run.Quick ? 0 : 3); i++)
        {
            warm.Add(await MavenAsync(run, maven, workspace, prefix: [], cancellationToken));
        }

        var buildSeconds = (warm.Count > 0 ? Stats.Median(warm) : cold) / 1000;
        run.Progress.WriteLine($"iops: T1 {buildSeconds:0.0} s");

        // One traced warm build: -C = the trace (paths via -y) and strace's own per-call summary (as -c) in one run.
        var trace = Path.Combine(root, "strace.txt");
        await MavenAsync(run, maven, workspace, ["strace", "-f", "-C", "-y", "-qq", "-e", "trace=%file,%desc", "-o", trace], cancellationToken);
        var (summary, byPlace) = Analyse(trace, workspace, repository);

        var files = byPlace.Values.Sum();
        var measured = new Measured(Stats.Round(buildSeconds, 2), files, byPlace["workspace"], byPlace["repository"], byPlace["other"],
            byPlace["workspace"] + byPlace["repository"], summary.Sum(s => s.Calls));
        var predictions = new[] { 1, 5, 10, 20, 50 }.Select(n => new Prediction(
            n,
            Stats.Round(buildSeconds, 1),
            Stats.Round(buildSeconds + measured.SharedOps * n / ShareIops, 1),
            Stats.Round(measured.SharedOps * n / ShareIops, 1),
            Stats.Round(ShareIops / n))).ToList();

        var rows = new List<object> { measured };
        rows.AddRange(predictions);
        rows.AddRange(summary.OrderByDescending(s => s.Calls).Take(15));
        var report = run.Report(Name, "none (Maven run directly, as the runner runs it, without the sandbox)", load, watch, rows, [],
        [
            "MODEL, not a measurement of Azure Files: T_local(N) = T1 (each build on its own cores and local disk, as the seed's pods); " +
            $"T_shared(N) = T1 + S x N / {ShareIops:0} s, where S = file operations of one build on the workspace and the Maven repository (both on the share in the AS-IS design) " +
            "and the share's IOPS are divided evenly among N builds. It ignores per-request latency (which only adds), SMB client caching (which subtracts) and the platform's own staging/publishing.",
            (run.Quick ? $"T1 = the cold build's time here ({buildSeconds:0.0} s; --quick times no warm build);" : $"T1 = median warm build time here ({buildSeconds:0.0} s, 3 runs);") + $" S = {measured.SharedOps:N0} ({measured.WorkspaceOps:N0} workspace + {measured.RepositoryOps:N0} repository) of {files:N0} file calls; strace's -C summary counts {measured.StraceSummaryCalls:N0} calls of the %file/%desc classes (pipes and sockets included).",
            "Counted calls: " + string.Join(' ', FileCalls.Order(StringComparer.Ordinal)) + ". mmap and page faults of mapped jars are not calls and are not counted.",
        ]);
        report.WriteTable(run.Options.Output, ["concurrent builds", "local scratch s", $"shared {ShareIops:0}-IOPS volume s", "of which waiting for IOPS s", "IOPS per build"],
            predictions.Select(p => (IReadOnlyList<string>)
            [
                p.ConcurrentBuilds.ToString(CultureInfo.InvariantCulture), BenchReport.F(p.LocalScratchSeconds, "0.0"), BenchReport.F(p.SharedVolumeSeconds, "0.0"), BenchReport.F(p.SharedIoSeconds, "0.0"), BenchReport.F(p.SharedIopsPerBuild),
            ]));
        return report;
    }

    private static async Task<double> MavenAsync(BenchRun run, string[] maven, string workspace, string[] prefix, CancellationToken cancellationToken)
    {
        var target = Path.Combine(workspace, "target");
        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        var command = prefix.Concat(maven).ToArray();
        return await BenchRun.RunProcessAsync(command[0], command[1..], workspace, cancellationToken);
    }

    /// <summary>strace's summary table, and the file calls of the trace by where their path lies.</summary>
    internal static (List<SyscallRow> Summary, Dictionary<string, long> ByPlace) Analyse(string tracePath, string workspace, string repository)
    {
        var summary = new List<SyscallRow>();
        var byPlace = new Dictionary<string, long>(StringComparer.Ordinal) { ["workspace"] = 0, ["repository"] = 0, ["other"] = 0 };
        var inSummary = false;
        foreach (var line in File.ReadLines(tracePath))
        {
            if (line.StartsWith("% time", StringComparison.Ordinal))
            {
                inSummary = true;
                continue;
            }

            if (inSummary)
            {
                var columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // % time, seconds, usecs/call, calls, [errors,] syscall
                if (columns.Length >= 5 && long.TryParse(columns[3], NumberStyles.None, CultureInfo.InvariantCulture, out var calls) && columns[^1] != "total")
                {
                    summary.Add(new SyscallRow(columns[^1], calls));
                }

                continue;
            }

            var match = TraceLine().Match(line);
            if (!match.Success || !FileCalls.Contains(match.Groups["call"].Value))
            {
                continue;
            }

            var path = PathOf(match.Groups["call"].Value, match.Groups["args"].Value);
            if (path is null || path.StartsWith("/proc", StringComparison.Ordinal) || path.StartsWith("/sys", StringComparison.Ordinal) || path.StartsWith("/dev", StringComparison.Ordinal))
            {
                continue; // pipes, sockets, anonymous and pseudo files: no disk behind them
            }

            var place = path.StartsWith(workspace, StringComparison.Ordinal) ? "workspace" : path.StartsWith(repository, StringComparison.Ordinal) ? "repository" : "other";
            byPlace[place]++;
        }

        return (summary, byPlace);
    }

    /// <summary>The file a call touches: a quoted absolute path, a path relative to a decorated dirfd (the *at calls), or a decorated fd.</summary>
    internal static string? PathOf(string call, string args)
    {
        if (args.StartsWith('"'))
        {
            var end = args.IndexOf('"', 1);
            var quoted = end > 0 ? args[1..end] : null;
            return quoted is not null && quoted.StartsWith('/') ? quoted : null;
        }

        var fd = DecoratedFd().Match(args);
        if (!fd.Success)
        {
            return null;
        }

        var directory = fd.Groups["path"].Value;
        var rest = args[fd.Length..];
        // Only the *at calls (openat, newfstatat, statx, ...) take a path after their dirfd; read/write take a buffer.
        var takesPath = call.EndsWith("at", StringComparison.Ordinal) || call is "statx" or "openat2" or "faccessat2" or "renameat2";
        if (takesPath && rest.StartsWith(", \"", StringComparison.Ordinal))
        {
            var end = rest.IndexOf('"', 3);
            var name = end > 0 ? rest[3..end] : "";
            return name.Length == 0 ? directory : name.StartsWith('/') ? name : directory + "/" + name;
        }

        return directory.StartsWith('/') ? directory : null;
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("target", StringComparison.Ordinal))
            {
                continue;
            }

            var destination = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination, overwrite: true);
        }
    }

    [GeneratedRegex(@"^\d+\s+(?<call>[a-z0-9_]+)\((?<args>.*)$")]
    private static partial Regex TraceLine();

    [GeneratedRegex(@"^(?:AT_FDCWD|\d+)<(?<path>[^>]*)>")]
    private static partial Regex DecoratedFd();
}
