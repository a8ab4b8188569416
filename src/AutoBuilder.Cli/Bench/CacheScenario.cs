using System.Diagnostics;
using System.Globalization;
using System.Text;
using AutoBuilder.Runner.Caching;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// Issue 14: restoring a keyed dependency cache. Builds a realistic Maven repository (Debian's /usr/share/maven-repo
/// copied as `cp -rL` does, plus generated artifacts: incompressible jars, compressible poms, checksum files), packs it
/// with CacheArchive, then restores the same archive alternately with CacheArchive.UnpackAsync (SHA-256 verified) and
/// `tar --zstd -xf` into fresh folders on the same disk: medians and their ratio.
/// </summary>
public sealed class CacheScenario : IBenchScenario
{
    /// <summary>Issue 14's acceptance: a restore at most 1.1× `tar --zstd -xf` of the same archive.</summary>
    public const double TargetRatio = 1.1;

    public string Name => "cache";

    /// <summary>Wall-clock medians and their ratio (the target), and CPU time (user + system) per restore: tar's includes its zstd child.</summary>
    public sealed record Row(int Files, long Bytes, long ArchiveBytes, double PackSeconds, int Runs, double UnpackMedianMs, double TarMedianMs, double Ratio,
        double UnpackCpuMedianMs, double TarCpuMedianMs, IReadOnlyList<double> UnpackMs, IReadOnlyList<double> TarMs, double? LayerHitMedianMs = null);

    /// <summary>Issue 14's acceptance: an exact hit whose read-only copy is already on the machine adds at most this to a build.</summary>
    public const double TargetLayerHitMs = 100;

    public async Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var load = BenchMachine.ReadLoadAverage();
        var root = Path.Combine(run.Options.TempRoot, "cache");
        var repository = Path.Combine(root, "repository");
        Directory.CreateDirectory(repository);

        // The full run: Debian's Maven repository with its links followed (~290 MB in ~2,100 files) plus ~2,000
        // generated artifacts of 4 files each; --quick: generated artifacts only, a few MB.
        if (!run.Quick && Directory.Exists("/usr/share/maven-repo"))
        {
            await BenchRun.RunProcessAsync("cp", ["-rL", "/usr/share/maven-repo", Path.Combine(repository, "debian")], null, cancellationToken);
        }

        Generate(repository, artifacts: run.Quick ? 600 : 2000, largestJar: run.Quick ? 256 << 10 : 16 << 10);
        var (files, bytes) = Measure(repository);
        run.Progress.WriteLine($"cache: {files:N0} files, {bytes / 1e6:0} MB");

        var archive = Path.Combine(root, "cache.tar.zst");
        var pack = Stopwatch.StartNew();
        ArchiveDigest digest;
        await using (var output = new FileStream(archive, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            digest = await CacheArchive.PackAsync(repository, output, cancellationToken);
        }

        var packSeconds = pack.Elapsed.TotalSeconds;
        run.Progress.WriteLine($"cache: packed into {digest.Size / 1e6:0} MB in {packSeconds:0.0} s");

        // Side by side: alternate which goes first; each into a fresh folder on the same disk, written back (sync)
        // and deleted between runs so neither pays for the other's dirty pages.
        // Round 0 is an untimed warm-up of both (JIT, page cache of the archive, tar's and zstd's binaries).
        var runs = run.Quick ? 3 : 5;
        var unpack = new List<double>();
        var tar = new List<double>();
        var unpackCpu = new List<double>();
        var tarCpu = new List<double>();
        for (var i = -1; i < runs; i++)
        {
            foreach (var managed in i % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var destination = Path.Combine(root, $"restore-{(managed ? "unpack" : "tar")}-{i + 1}");
                Directory.CreateDirectory(destination);
                await BenchRun.RunProcessAsync("sync", [], null, cancellationToken);
                var cpu = CpuMs();
                var timer = Stopwatch.StartNew();
                if (managed)
                {
                    await using var input = new FileStream(archive, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                    var result = await CacheArchive.UnpackAsync(input, destination, digest.Sha256, cancellationToken: cancellationToken);
                    if (i >= 0)
                    {
                        unpack.Add(timer.Elapsed.TotalMilliseconds);
                        unpackCpu.Add(CpuMs().Self - cpu.Self);
                    }

                    if (result.FileCount != files || result.TotalBytes != bytes)
                    {
                        throw new BenchException($"UnpackAsync restored {result.FileCount} files of {result.TotalBytes} bytes, not {files} of {bytes}.");
                    }
                }
                else
                {
                    var ms = await BenchRun.RunProcessAsync("tar", ["--zstd", "-xf", archive, "-C", destination], null, cancellationToken);
                    if (i >= 0)
                    {
                        tar.Add(ms);
                        tarCpu.Add(CpuMs().Children - cpu.Children);
                    }

                    if (i == -1 && Measure(destination) is var restored && restored != (files, bytes))
                    {
                        throw new BenchException($"tar restored {restored.Files} files of {restored.Bytes} bytes, not {files} of {bytes}.");
                    }
                }

                run.Progress.WriteLine($"cache: {(managed ? "UnpackAsync" : "tar --zstd -xf")} {timer.Elapsed.TotalMilliseconds:0} ms");
                Directory.Delete(destination, recursive: true);
            }
        }

        var layerHit = await MeasureLayerHitAsync(run, root, archive, digest.Sha256, files, cancellationToken);

        var unpackMedian = Stats.Median(unpack);
        var tarMedian = Stats.Median(tar);
        var ratio = Stats.Round(unpackMedian / tarMedian, 2);
        var row = new Row(files, bytes, digest.Size, Stats.Round(packSeconds, 2), runs, Stats.Round(unpackMedian), Stats.Round(tarMedian), ratio,
            Stats.Round(Stats.Median(unpackCpu)), Stats.Round(Stats.Median(tarCpu)), [.. unpack.Select(x => Stats.Round(x))], [.. tar.Select(x => Stats.Round(x))],
            layerHit is null ? null : Stats.Round(layerHit.Value, 2));
        TargetCheck[] targets = layerHit is null
            ? [new TargetCheck("restore vs tar --zstd -xf (issue 14)", $"<= {TargetRatio:0.0}x", $"{ratio:0.00}x", ratio <= TargetRatio)]
            :
            [
                new TargetCheck("restore vs tar --zstd -xf (issue 14)", $"<= {TargetRatio:0.0}x", $"{ratio:0.00}x", ratio <= TargetRatio),
                new TargetCheck("exact hit with the machine's read-only copy (issue 14)", $"<= {TargetLayerHitMs:0} ms", $"{layerHit:0.0} ms", layerHit <= TargetLayerHitMs),
            ];
        var report = run.Report(Name, "none (CacheArchive in process, tar as a child process)", load, watch, [row], targets,
            [
                $"The same {digest.Size / 1e6:0.0} MB archive (CacheArchive.PackAsync, zstd level {CacheArchive.CompressionLevel}) restored {runs} times each way after an untimed round of both, alternating which goes first, into fresh folders on the same disk; `sync` before each run, folders deleted after.",
                "CPU ms = user + system time of the bench process during UnpackAsync (/proc/self/stat), and of tar with its zstd child (the bench's waited-for children): less sensitive to other load than wall time.",
                "UnpackAsync verifies the archive's SHA-256 as it reads and refuses links and paths outside the destination; tar --zstd runs zstd as a second process (decompression and file creation in parallel).",
                layerHit is null
                    ? "Exact hit with the machine's read-only copy: not measured (cache layers need root and overlayfs)."
                    : $"Exact hit with the machine's read-only copy (CacheLayers, as a root runner does it): find the copy, take its lease, mount the overlay over it with a fresh upper layer, read one file through it, unmount, release — median of 20: {layerHit:0.0} ms for the {files:N0}-file cache (the restore call to the API, one small request, comes on top: see `bench api`).",
                run.Quick ? "--quick: generated artifacts only (no /usr/share/maven-repo), 3 runs each." : "Cache: /usr/share/maven-repo copied as cp -rL does, plus 2,000 generated artifacts (jar of random bytes, pom text, two .sha1 files each).",
            ]);
        report.WriteTable(run.Options.Output, ["files", "MB", "archive MB", "pack s", "runs", "UnpackAsync median ms", "tar --zstd -xf median ms", "ratio", "UnpackAsync CPU ms", "tar + zstd CPU ms", "exact hit, copy on the machine, ms"],
        [
            [
                files.ToString("N0", CultureInfo.InvariantCulture), BenchReport.F(bytes / 1e6), BenchReport.F(digest.Size / 1e6), BenchReport.F(row.PackSeconds, "0.00"),
                runs.ToString(CultureInfo.InvariantCulture), BenchReport.F(row.UnpackMedianMs), BenchReport.F(row.TarMedianMs), BenchReport.F(ratio, "0.00"),
                BenchReport.F(row.UnpackCpuMedianMs), BenchReport.F(row.TarCpuMedianMs), row.LayerHitMedianMs is { } hit ? BenchReport.F(hit, "0.0") : "—",
            ],
        ]);
        return report;
    }

    /// <summary>
    /// An exact hit whose read-only copy is already on the machine, as the runner's layers serve it: the copy is made once
    /// (untimed), then each timed hit finds it, mounts it under a fresh upper layer, reads a file through the mount and
    /// unmounts. Null where layers cannot work (not root, no overlayfs).
    /// </summary>
    private static async Task<double?> MeasureLayerHitAsync(BenchRun run, string root, string archive, string sha256, int files, CancellationToken cancellationToken)
    {
        var layers = CacheLayers.For(Path.Combine(root, "machine"), maxBytes: long.MaxValue);
        if (layers is null)
        {
            return null;
        }

        (await layers.AddAsync("bench", "maven-key", sha256, null, async folder =>
        {
            await using var input = new FileStream(archive, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return (await CacheArchive.UnpackAsync(input, Path.Combine(folder, "cache"), sha256, cancellationToken: cancellationToken)).TotalBytes;
        })).Dispose();
        var times = new List<double>();
        for (var i = 0; i < 21; i++)
        {
            var workspace = Path.Combine(root, $"layer-hit-{i}");
            var target = Path.Combine(workspace, "cache", "maven", "repository");
            var timer = Stopwatch.StartNew();
            using (var lease = layers.Find("bench", "maven-key", sha256) ?? throw new BenchException("the read-only copy made for the layer hit is gone"))
            {
                var mounted = CacheLayers.Mount(lease, [(target, "cache")], Path.Combine(workspace, "cache-layers"), owner: null);
                try
                {
                    if (Directory.EnumerateFileSystemEntries(target).FirstOrDefault() is null)
                    {
                        throw new BenchException("the mounted read-only copy is empty");
                    }
                }
                finally
                {
                    CacheLayers.Unmount(mounted);
                }
            }

            if (i > 0)
            {
                times.Add(timer.Elapsed.TotalMilliseconds); // the first is a warm-up
            }

            Directory.Delete(workspace, recursive: true);
        }

        run.Progress.WriteLine($"cache: exact hit with the machine's read-only copy of {files:N0} files: median {Stats.Median(times):0.0} ms");
        return Stats.Median(times);
    }

    /// <summary>CPU time (user + system, ms) of this process and of its waited-for children, from /proc/self/stat.</summary>
    private static (double Self, double Children) CpuMs()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // Fields after "(comm)": state is field 3; utime, stime, cutime, cstime are fields 14-17, in clock ticks (100 a second).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            double Ticks(int field) => double.Parse(fields[field - 3], CultureInfo.InvariantCulture) * 10;
            return (Ticks(14) + Ticks(15), Ticks(16) + Ticks(17));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }

    /// <summary>Maven-shaped artifacts: a jar of random bytes (compressed content does not compress again), a pom, and their .sha1 files.</summary>
    internal static void Generate(string repository, int artifacts, int largestJar)
    {
        var random = new Random(14);
        var jar = new byte[largestJar];
        for (var i = 0; i < artifacts; i++)
        {
            var group = $"org/example/bench/g{i % 40}";
            var artifact = $"artifact{i}";
            var folder = Path.Combine(repository, "generated", group, artifact, "1.0");
            Directory.CreateDirectory(folder);
            var size = (int)Math.Round(Math.Exp(random.NextDouble() * Math.Log(largestJar / 1024.0)) * 1024);
            random.NextBytes(jar.AsSpan(0, size));
            File.WriteAllBytes(Path.Combine(folder, $"{artifact}-1.0.jar"), jar.AsSpan(0, size).ToArray());
            var pom = new StringBuilder()
                .Append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n")
                .Append(CultureInfo.InvariantCulture, $"  <groupId>{group.Replace('/', '.')}</groupId>\n  <artifactId>{artifact}</artifactId>\n  <version>1.0</version>\n  <dependencies>\n");
            for (var d = 0; d < 1 + (i % 12); d++)
            {
                pom.Append(CultureInfo.InvariantCulture, $"    <dependency>\n      <groupId>org.example.bench.g{d}</groupId>\n      <artifactId>artifact{(i + d) % artifacts}</artifactId>\n      <version>1.0</version>\n      <scope>compile</scope>\n    </dependency>\n");
            }

            pom.Append("  </dependencies>\n</project>\n");
            File.WriteAllText(Path.Combine(folder, $"{artifact}-1.0.pom"), pom.ToString());
            File.WriteAllText(Path.Combine(folder, $"{artifact}-1.0.jar.sha1"), Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(jar.AsSpan(0, size))));
            File.WriteAllText(Path.Combine(folder, $"{artifact}-1.0.pom.sha1"), Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(Encoding.UTF8.GetBytes(pom.ToString()))));
        }
    }

    /// <summary>Regular files and their bytes under a folder (links not followed: the archive holds none).</summary>
    internal static (int Files, long Bytes) Measure(string folder)
    {
        int files = 0;
        long bytes = 0;
        foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            files++;
            bytes += file.Length;
        }

        return (files, bytes);
    }
}
