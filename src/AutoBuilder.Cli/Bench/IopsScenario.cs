using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using AutoBuilder.Runner.Caching;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Item 7 and issue 14: what one warm Maven build of samples/maven-hello sends to a shared volume, for the seed's AS-IS
/// (workspace and cache shared), the seed's TO-BE (cache shared) and AutoBuilder's keyed cache (cache restored from an
/// archive into the local workspace). Counted twice, for real: file calls under strace, by path; and operations that
/// reach a FUSE stand-in for the share (throttlefs: one global token bucket, SMB-like 1 s metadata caching), with build
/// time under a budget of 3,100/k operations a second (k pods sharing a 3,100-IOPS Azure Files share). Then a model,
/// labelled as one, of 1–50 concurrent builds.
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

    /// <summary>Where a build's workspace and Maven repository lie.</summary>
    public enum Placement
    {
        /// <summary>The seed's AS-IS: workspace and cache on the shared volume.</summary>
        AsIs,

        /// <summary>The seed's TO-BE: workspace on local scratch, the cache still on the shared volume.</summary>
        ToBe,

        /// <summary>AutoBuilder's keyed cache: the cache restored from an archive into the build's local workspace.</summary>
        Keyed,
    }

    public sealed record SyscallRow(string Syscall, long Calls);

    /// <summary>One traced warm build: its file calls by where their path lies, and those under the shared folder.</summary>
    public sealed record Measured(Placement Placement, long FileOpsTotal, long WorkspaceOps, long RepositoryOps, long OtherOps, long SharedOps, long StraceSummaryCalls);

    /// <summary>Median warm build time with everything local (T1 of the model).</summary>
    public sealed record LocalBuild(double BuildSeconds, int Runs);

    /// <summary>
    /// Builds through throttlefs: operations that reached the volume and build time under a budget of 3,100/k operations a
    /// second (k = 0: no budget), beside a local build in the same round.
    /// </summary>
    public sealed record VolumeRow(Placement Placement, int K, double OpsPerSecond, long VolumeOps, double BuildSeconds, double LocalSeconds, double RatioToLocal, int Runs);

    public sealed record Prediction(int ConcurrentBuilds, double LocalScratchSeconds, double AsIsSeconds, double ToBeSeconds, double KeyedSeconds, double SharedIopsPerBuild);

    private sealed record Layout(string Workspace, string Repository);

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        var samples = run.Options.RequireSamples();
        var root = Path.Combine(run.Options.TempRoot, "iops");
        var local = Path.Combine(root, "local");
        // The share's folder: a plain folder for the strace runs; for the FUSE runs, the disk behind the mount at root/share.
        var shareDisk = Path.Combine(root, "share-disk");
        var shareMount = Path.Combine(root, "share");
        var settings = run.Options.MavenSettings ?? throw new BenchException("The iops scenario needs samples/maven-settings-offline.xml (Maven Central is not reachable offline).");
        var project = Path.Combine(samples, "maven-hello");

        // The first build fills a local repository from the mirror; every measured build after it is warm.
        var localLayout = new Layout(Path.Combine(local, "workspaces", "maven-hello"), Path.Combine(local, "warm", "maven", "repository"));
        CopyDirectory(project, localLayout.Workspace);
        Directory.CreateDirectory(localLayout.Repository);
        var cold = await MavenAsync(localLayout, settings, prefix: [], cancellationToken);
        run.Progress.WriteLine($"iops: cold build {cold / 1000:0.0} s");
        var warm = new List<double>();
        for (var i = 0; i < (run.Quick ? 1 : 3); i++)
        {
            warm.Add(await MavenAsync(localLayout, settings, prefix: [], cancellationToken));
        }

        var buildSeconds = Stats.Median(warm) / 1000;
        run.Progress.WriteLine($"iops: T1 {buildSeconds:0.0} s");

        // The keyed cache's archive: the warm repository packed by CacheArchive, as a build that saved it would.
        var archive = Path.Combine(local, "maven.tar.zst");
        ArchiveDigest digest;
        await using (var output = File.Create(archive))
        {
            digest = await CacheArchive.PackAsync(localLayout.Repository, output, cancellationToken);
        }

        // strace: one traced warm build per placement; counted under the share's folder by path, not assumed.
        var measured = new List<Measured>();
        List<SyscallRow> summary = [];
        foreach (var placement in Enum.GetValues<Placement>())
        {
            var layout = await PrepareAsync(placement, shareDisk, local, "strace", project, localLayout.Repository, archive, digest, cancellationToken);
            var trace = Path.Combine(root, $"strace-{placement}.txt");
            await MavenAsync(layout, settings, ["strace", "-f", "-C", "-y", "-qq", "-e", "trace=%file,%desc", "-o", trace], cancellationToken);
            var (calls, byPlace) = Analyse(trace, layout.Workspace, layout.Repository, shareDisk);
            measured.Add(new Measured(placement, byPlace["workspace"] + byPlace["repository"] + byPlace["other"], byPlace["workspace"], byPlace["repository"], byPlace["other"],
                byPlace["shared"], calls.Sum(s => s.Calls)));
            summary = placement == Placement.AsIs ? calls : summary;
            File.Delete(trace);
            run.Progress.WriteLine($"iops: strace {placement}: {byPlace["shared"]:N0} file calls under the share");
        }

        // FUSE: the same builds with the share mounted through throttlefs.
        var volume = new List<VolumeRow>();
        string? fuseProblem = null;
        var restoreMs = new List<double>();
        try
        {
            volume = await MeasureVolumeAsync(run, root, shareDisk, shareMount, local, project, settings, localLayout, archive, digest, restoreMs, cancellationToken);
        }
        catch (BenchException e)
        {
            fuseProblem = e.Message;
            run.Progress.WriteLine($"iops: FUSE runs skipped: {e.Message}");
        }

        // The model: operations per build that reach the volume (throttlefs, unlimited budget) or, without FUSE, strace's calls.
        double OpsOf(Placement p) => volume.Count > 0
            ? volume.Where(v => v.Placement == p && v.K == 0).Select(v => (double)v.VolumeOps).DefaultIfEmpty(0).First()
            : measured.Single(m => m.Placement == p).SharedOps;
        var predictions = new[] { 1, 5, 10, 20, 50 }.Select(n => new Prediction(
            n,
            Stats.Round(buildSeconds, 1),
            Stats.Round(buildSeconds + OpsOf(Placement.AsIs) * n / ShareIops, 1),
            Stats.Round(buildSeconds + OpsOf(Placement.ToBe) * n / ShareIops, 1),
            Stats.Round(buildSeconds + OpsOf(Placement.Keyed) * n / ShareIops, 1),
            Stats.Round(ShareIops / n))).ToList();

        var rows = new List<object> { new LocalBuild(Stats.Round(buildSeconds, 2), warm.Count) };
        rows.AddRange(measured);
        rows.AddRange(volume);
        rows.AddRange(predictions);
        rows.AddRange(summary.OrderByDescending(s => s.Calls).Take(15));

        var toBe = measured.Single(m => m.Placement == Placement.ToBe);
        var keyed = measured.Single(m => m.Placement == Placement.Keyed);
        var targets = new List<TargetCheck>
        {
            new("keyed cache: file calls on the share per warm build, <= 1% of TO-BE (strace)", "<= 1%", $"{keyed.SharedOps:N0} of {toBe.SharedOps:N0}", keyed.SharedOps <= toBe.SharedOps / 100.0),
        };
        if (volume.Count > 0)
        {
            var toBeOps = volume.Where(v => v.Placement == Placement.ToBe && v.K == 0).Select(v => v.VolumeOps).First();
            var keyedOps = volume.Where(v => v.Placement == Placement.Keyed && v.K == 0).Select(v => v.VolumeOps).First();
            targets.Add(new("keyed cache: operations reaching the volume per warm build, <= 1% of TO-BE (throttlefs)", "<= 1%", $"{keyedOps:N0} of {toBeOps:N0}", keyedOps <= toBeOps / 100.0));
            var largest = volume.Where(v => v.Placement == Placement.Keyed).MaxBy(v => v.K)!;
            targets.Add(new($"keyed cache: build time under the emulated k = {largest.K} share vs local (issue 14 asks k = 16)", "<= 1.2x",
                $"{largest.RatioToLocal:0.00}x", largest.RatioToLocal <= 1.2));
        }

        var notes = new List<string>
        {
            "Placements: AS-IS = workspace and Maven repository on the share (the seed today); TO-BE = workspace local, repository on the share (the seed's plan); " +
            $"keyed = the repository packed by CacheArchive ({digest.Size / 1e6:0.0} MB), unpacked (SHA-256 checked) into a fresh local workspace before each build, the build run there; its restore reads one archive from the blob store over HTTP (here: a local file), never the share.",
            "strace rows: one traced warm build per placement (strace -f -C -y -e trace=%file,%desc); sharedOps = file calls whose path lies under the share's folder, counted, not assumed. " +
            "Counted calls: " + string.Join(' ', FileCalls.Order(StringComparer.Ordinal)) + ". mmap and page faults of mapped jars are not calls and are not counted.",
        };
        if (volume.Count > 0)
        {
            notes.Add($"Volume rows: the share mounted through throttlefs (src/AutoBuilder.Cli/Bench/fuse/throttlefs.c: FUSE passthrough, one global token bucket, 1 s attr/entry/negative caching like an SMB client's actimeo=1, mounted afresh per build); " +
                $"volumeOps = requests it served during the build. k pods sharing a {ShareIops:0}-operation budget are emulated by giving one build {ShareIops:0}/k operations a second (2 cores cannot saturate {ShareIops:0}/s); k = 0 is no budget. " +
                $"localSeconds = the same build with workspace and repository on local disk, in the same round; medians of {volume[0].Runs} round(s)" +
                (restoreMs.Count > 0 ? $"; the keyed restore (not in the build time) took a median {Stats.Median(restoreMs):0} ms." : "."));
            notes.Add($"MODEL (T1 + S x N / {ShareIops:0} s, the share's operations divided evenly among N builds), with S = operations that reached the volume per build (throttlefs, no budget): " +
                $"AS-IS {OpsOf(Placement.AsIs):N0}, TO-BE {OpsOf(Placement.ToBe):N0}, keyed {OpsOf(Placement.Keyed):N0}.");
        }
        else
        {
            notes.Add($"FUSE could not run here ({fuseProblem}); the MODEL (T1 + S x N / {ShareIops:0} s) uses strace's file calls under the share as S: " +
                $"AS-IS {OpsOf(Placement.AsIs):N0}, TO-BE {OpsOf(Placement.ToBe):N0}, keyed {OpsOf(Placement.Keyed):N0}.");
        }

        notes.Add($"T1 = median of {warm.Count} warm local build(s) here ({buildSeconds:0.0} s; the cold one took {cold / 1000:0.0} s).");
        var report = run.Report(Name, "none (Maven run directly, as the runner runs it, without the sandbox)", load, watch, rows, targets, notes);
        report.WriteTable(run.Options.Output, ["placement", "file calls on the share (strace)", "workspace", "repository", "other", "all file calls"],
            measured.Select(m => (IReadOnlyList<string>)
            [
                m.Placement.ToString(), m.SharedOps.ToString("N0", CultureInfo.InvariantCulture), m.WorkspaceOps.ToString("N0", CultureInfo.InvariantCulture),
                m.RepositoryOps.ToString("N0", CultureInfo.InvariantCulture), m.OtherOps.ToString("N0", CultureInfo.InvariantCulture), m.FileOpsTotal.ToString("N0", CultureInfo.InvariantCulture),
            ]), last: false);
        if (volume.Count > 0)
        {
            report.WriteTable(run.Options.Output, ["placement", "k", "budget ops/s", "ops reaching the volume", "build s", "local s", "ratio"],
                volume.Select(v => (IReadOnlyList<string>)
                [
                    v.Placement.ToString(), v.K.ToString(CultureInfo.InvariantCulture), v.K == 0 ? "none" : BenchReport.F(v.OpsPerSecond), v.VolumeOps.ToString("N0", CultureInfo.InvariantCulture),
                    BenchReport.F(v.BuildSeconds, "0.0"), BenchReport.F(v.LocalSeconds, "0.0"), BenchReport.F(v.RatioToLocal, "0.00"),
                ]), first: false, last: false);
        }

        report.WriteTable(run.Options.Output, ["concurrent builds", "local s", $"AS-IS on a {ShareIops:0}-IOPS share s", "TO-BE s", "keyed s", "IOPS per build"],
            predictions.Select(p => (IReadOnlyList<string>)
            [
                p.ConcurrentBuilds.ToString(CultureInfo.InvariantCulture), BenchReport.F(p.LocalScratchSeconds, "0.0"), BenchReport.F(p.AsIsSeconds, "0.0"),
                BenchReport.F(p.ToBeSeconds, "0.0"), BenchReport.F(p.KeyedSeconds, "0.0"), BenchReport.F(p.SharedIopsPerBuild),
            ]), first: false);
        return report;
    }

    /// <summary>
    /// Rounds of: for each budget (none, then 3,100/k), a local build and one build per placement with the share's
    /// folder mounted through throttlefs (a fresh mount per build); medians per placement and budget.
    /// </summary>
    private static async Task<List<VolumeRow>> MeasureVolumeAsync(BenchRun run, string root, string shareDisk, string shareMount, string local, string project, string settings,
        Layout localLayout, string archive, ArchiveDigest digest, List<double> restoreMs, CancellationToken cancellationToken)
    {
        var binary = await ThrottleFs.CompileAsync(Path.Combine(root, "throttlefs"), cancellationToken);
        int[] ks = run.Quick ? [0, 1, 4] : [0, 1, 4, 8, 16];
        var rounds = run.Quick ? 1 : 3;
        var samples = new Dictionary<(Placement, int), List<(long Ops, double Seconds, double Local)>>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var k in ks)
            {
                var budget = k == 0 ? 0 : ShareIops / k;
                var localSeconds = await MavenAsync(localLayout, settings, prefix: [], cancellationToken) / 1000;
                foreach (var placement in Enum.GetValues<Placement>())
                {
                    // Laid out on the share's disk before the mount (setting up is not the build's I/O), built through the mount.
                    var prepared = await PrepareAsync(placement, shareDisk, local, "fuse", project, localLayout.Repository, archive, digest, cancellationToken, restoreMs);
                    var layout = new Layout(Remap(prepared.Workspace, shareDisk, shareMount), Remap(prepared.Repository, shareDisk, shareMount));
                    await using var mount = await ThrottleFs.MountAsync(binary, shareDisk, shareMount, budget, cancellationToken);
                    // The build's own operations: the control file's count before and after it (reading it is not counted;
                    // mounting and unmounting may stat the mount's root, which is not the build's doing).
                    var before = mount.Operations();
                    var seconds = await MavenAsync(layout, settings, prefix: [], cancellationToken, deleteTarget: false) / 1000;
                    var ops = mount.Operations() - before;
                    await mount.UnmountAsync(cancellationToken);
                    (samples.TryGetValue((placement, k), out var list) ? list : samples[(placement, k)] = []).Add((ops, seconds, localSeconds));
                    run.Progress.WriteLine($"iops: throttlefs {placement} k={k}: {ops:N0} operations, {seconds:0.0} s (local {localSeconds:0.0} s)");
                }
            }
        }

        return [.. samples.Select(s =>
        {
            var (placement, k) = s.Key;
            var seconds = Stats.Median([.. s.Value.Select(v => v.Seconds)]);
            var localSeconds = Stats.Median([.. s.Value.Select(v => v.Local)]);
            return new VolumeRow(placement, k, k == 0 ? 0 : Stats.Round(ShareIops / k), (long)Stats.Median([.. s.Value.Select(v => (double)v.Ops)]),
                Stats.Round(seconds, 2), Stats.Round(localSeconds, 2), Stats.Round(seconds / localSeconds, 2), s.Value.Count);
        })];
    }

    private static string Remap(string path, string from, string to) =>
        path == from || path.StartsWith(from + "/", StringComparison.Ordinal) ? to + path[from.Length..] : path;

    /// <summary>
    /// A placement's workspace and repository, ready for a warm build: the project copied in, the warm repository on
    /// the share (AS-IS, TO-BE; copied once) or restored from the archive into a fresh local workspace (keyed).
    /// </summary>
    private static async Task<Layout> PrepareAsync(Placement placement, string share, string local, string purpose, string project, string warmRepository, string archive,
        ArchiveDigest digest, CancellationToken cancellationToken, List<double>? restoreMs = null)
    {
        var sharedRepository = Path.Combine(share, "cache", "maven", "repository");
        if (placement != Placement.Keyed && !Directory.Exists(sharedRepository))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(sharedRepository)!);
            await BenchRun.RunProcessAsync("cp", ["-a", warmRepository, sharedRepository], null, cancellationToken);
        }

        switch (placement)
        {
            case Placement.AsIs:
                return Fresh(new Layout(Path.Combine(share, "workspaces", $"{purpose}-as-is"), sharedRepository), project);
            case Placement.ToBe:
                return Fresh(new Layout(Path.Combine(local, "workspaces", $"{purpose}-to-be"), sharedRepository), project);
            default:
                // The runner's layout: the build's workspace holds its source and, under cache/, the restored dependencies.
                var workspace = Path.Combine(local, "workspaces", $"{purpose}-keyed");
                if (Directory.Exists(workspace))
                {
                    Directory.Delete(workspace, recursive: true);
                }

                var layout = Fresh(new Layout(Path.Combine(workspace, "source"), Path.Combine(workspace, "cache", "maven", "repository")), project);
                var watch = Stopwatch.StartNew();
                await using (var input = File.OpenRead(archive))
                {
                    await CacheArchive.UnpackAsync(input, layout.Repository, digest.Sha256, cancellationToken: cancellationToken);
                }

                restoreMs?.Add(watch.Elapsed.TotalMilliseconds);
                return layout;
        }
    }

    private static Layout Fresh(Layout layout, string project)
    {
        var target = Path.Combine(layout.Workspace, "target");
        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        if (!File.Exists(Path.Combine(layout.Workspace, "pom.xml")))
        {
            CopyDirectory(project, layout.Workspace);
        }

        return layout;
    }

    /// <summary>One warm build (the runner's Maven command line, without the sandbox): its wall time in ms.</summary>
    private static async Task<double> MavenAsync(Layout layout, string settings, string[] prefix, CancellationToken cancellationToken, bool deleteTarget = true)
    {
        var target = Path.Combine(layout.Workspace, "target");
        if (deleteTarget && Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        string[] maven = ["mvn", "-B", "-q", "-s", settings, $"-Dmaven.repo.local={layout.Repository}", "package"];
        var command = prefix.Concat(maven).ToArray();
        return await BenchRun.RunProcessAsync(command[0], command[1..], layout.Workspace, cancellationToken);
    }

    /// <summary>strace's summary table, and the file calls of the trace by where their path lies.</summary>
    /// <remarks>The repository may lie inside the workspace (the keyed cache's layout): it is matched first. "shared" counts, apart, the calls under <paramref name="share"/>.</remarks>
    internal static (List<SyscallRow> Summary, Dictionary<string, long> ByPlace) Analyse(string tracePath, string workspace, string repository, string? share = null)
    {
        var summary = new List<SyscallRow>();
        var byPlace = new Dictionary<string, long>(StringComparer.Ordinal) { ["workspace"] = 0, ["repository"] = 0, ["other"] = 0, ["shared"] = 0 };
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

            var place = Under(path, repository) ? "repository" : Under(path, workspace) ? "workspace" : "other";
            byPlace[place]++;
            if (share is not null && Under(path, share))
            {
                byPlace["shared"]++;
            }
        }

        return (summary, byPlace);
    }

    private static bool Under(string path, string folder) =>
        path.StartsWith(folder, StringComparison.Ordinal) && (path.Length == folder.Length || path[folder.Length] == '/');

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
