using AutoBuilder.Cli.Bench;

namespace AutoBuilder.Cli.Tests.Bench;

/// <summary>
/// Issue 14's benchmarks in --quick form, run in process: `bench iops` with its three placements (strace and throttlefs)
/// and `bench cache` (CacheArchive beside tar --zstd). They assert on the reports' structure and sanity — counts, order of
/// the placements, every run restored whole — never on times: whether a speed target holds is the benchmark's verdict.
/// Need Maven, strace, gcc, libfuse3-dev, fuse3, zstd and root (scripts/test.sh).
/// </summary>
public sealed class CacheBenchTests : IDisposable
{
    private readonly TempFolder _temp = new();

    [Fact]
    public async Task Iops_Quick_KeyedCacheSendsNothingToTheShare_AndAsIsAtLeastToBe()
    {
        var output = new StringWriter();
        var report = await new IopsScenario().RunAsync(Run(output), CancellationToken.None);

        var measured = report.Rows.OfType<IopsScenario.Measured>().ToDictionary(m => m.Placement);
        Assert.Equal(Enum.GetValues<IopsScenario.Placement>(), measured.Keys.Order());
        var (asIs, toBe, keyed) = (measured[IopsScenario.Placement.AsIs], measured[IopsScenario.Placement.ToBe], measured[IopsScenario.Placement.Keyed]);
        // Measured, not assumed: the keyed build does its repository and workspace I/O, all of it local.
        Assert.Equal(0, keyed.SharedOps);
        Assert.True(keyed.RepositoryOps > 0 && keyed.WorkspaceOps > 0, keyed.ToString());
        Assert.True(toBe.SharedOps >= toBe.RepositoryOps && toBe.RepositoryOps > 0, toBe.ToString());
        Assert.True(asIs.SharedOps >= toBe.SharedOps + asIs.WorkspaceOps, $"{asIs} vs {toBe}");
        Assert.All(measured.Values, m => Assert.True(m.StraceSummaryCalls >= m.FileOpsTotal, m.ToString()));

        // Through throttlefs: every placement at every budget, with operations AS-IS >= TO-BE > keyed = 0.
        var volume = report.Rows.OfType<IopsScenario.VolumeRow>().ToList();
        Assert.Equal([0, 1, 4], volume.Select(v => v.K).Distinct());
        foreach (var k in new[] { 0, 1, 4 })
        {
            var at = volume.Where(v => v.K == k).ToDictionary(v => v.Placement);
            Assert.Equal(3, at.Count);
            Assert.Equal(0, at[IopsScenario.Placement.Keyed].VolumeOps);
            Assert.True(at[IopsScenario.Placement.ToBe].VolumeOps > 0, at[IopsScenario.Placement.ToBe].ToString());
            Assert.True(at[IopsScenario.Placement.AsIs].VolumeOps >= at[IopsScenario.Placement.ToBe].VolumeOps, $"{at[IopsScenario.Placement.AsIs]} vs {at[IopsScenario.Placement.ToBe]}");
            Assert.All(at.Values, v => Assert.True(v.BuildSeconds > 0 && v.LocalSeconds > 0 && v.RatioToLocal > 0, v.ToString()));
        }

        // The model: the keyed column flat at T1, the shared ones growing with N, AS-IS above TO-BE.
        var predictions = report.Rows.OfType<IopsScenario.Prediction>().ToList();
        Assert.Equal([1, 5, 10, 20, 50], predictions.Select(p => p.ConcurrentBuilds));
        Assert.All(predictions, p => Assert.Equal(p.LocalScratchSeconds, p.KeyedSeconds));
        Assert.All(predictions, p => Assert.True(p.AsIsSeconds >= p.ToBeSeconds && p.ToBeSeconds >= p.KeyedSeconds, p.ToString()));
        Assert.True(predictions[^1].ToBeSeconds > predictions[0].ToBeSeconds);
        Assert.Contains(report.Targets, t => t.What.Contains("<= 1% of TO-BE (throttlefs)", StringComparison.Ordinal) && t.Met);
        Assert.Contains(report.Targets, t => t.What.Contains("(strace)", StringComparison.Ordinal) && t.Met);

        var text = output.ToString();
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, "== iops \\(--quick\\)"));
        Assert.Contains("ops reaching the volume", text, StringComparison.Ordinal);
        Assert.Contains("keyed s", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cache_Quick_RestoresTheSameArchiveBothWays_AndReportsTheirRatio()
    {
        var output = new StringWriter();
        var report = await new CacheScenario().RunAsync(Run(output), CancellationToken.None);

        var row = Assert.IsType<CacheScenario.Row>(Assert.Single(report.Rows));
        Assert.True(row.Files >= 1000, row.ToString());
        Assert.True(row.Bytes > 1_000_000 && row.ArchiveBytes > 0 && row.ArchiveBytes < row.Bytes, row.ToString());
        Assert.Equal(3, row.Runs);
        Assert.Equal(3, row.UnpackMs.Count);
        Assert.Equal(3, row.TarMs.Count);
        Assert.All(row.UnpackMs.Concat(row.TarMs), ms => Assert.True(ms > 0));
        Assert.Equal(Math.Round(row.UnpackMedianMs / row.TarMedianMs, 2), row.Ratio, 0.02);
        Assert.Equal("<= 1.1x", Assert.Single(report.Targets, t => t.What.StartsWith("restore vs tar", StringComparison.Ordinal)).Target);
        Assert.Contains("tar --zstd -xf median ms", output.ToString(), StringComparison.Ordinal);
        // Root with overlayfs (this machine and CI): an exact hit over the machine's read-only copy is measured too.
        Assert.True(Environment.IsPrivilegedProcess, "the layer hit needs root, as CI has");
        Assert.NotNull(row.LayerHitMedianMs);
        Assert.True(row.LayerHitMedianMs > 0, row.ToString());
        Assert.Equal("<= 100 ms", Assert.Single(report.Targets, t => t.What.StartsWith("exact hit", StringComparison.Ordinal)).Target);
    }

    private BenchRun Run(TextWriter output) => new(
        new BenchOptions
        {
            Quick = true,
            TempRoot = _temp.Combine("bench"),
            SamplesDirectory = Samples(),
            MavenSettings = Path.Combine(Samples(), "maven-settings-offline.xml"),
            Output = output,
        },
        remote: null);

    private static string Samples()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "samples", "maven-hello")))
            {
                return Path.Combine(dir.FullName, "samples");
            }
        }

        throw new InvalidOperationException("samples/maven-hello not found above " + AppContext.BaseDirectory);
    }

    public void Dispose() => _temp.Dispose();
}
