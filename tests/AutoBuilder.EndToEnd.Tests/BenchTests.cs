using System.Text.Json;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Every `autobuilder bench` scenario runs with --quick against its own embedded server and reports sane, non-zero
/// figures. No timing thresholds: whether a target holds is the benchmark's verdict, not a test's.
/// </summary>
public sealed class BenchTests
{
    [Fact]
    public async Task Overhead_Quick_ReportsBothSizesBesideTheShellPipeline()
    {
        var report = await RunAsync("overhead");

        var rows = Rows(report);
        Assert.Equal(["1MB", "10MB"], rows.Select(r => r.GetProperty("size").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal(0, row.GetProperty("failures").GetInt32());
            Assert.True(row.GetProperty("overheadMedianMs").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("shellMedianMs").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("ratio").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("stageMedianMs").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("publishMedianMs").GetDouble() > 0, row.ToString());
        }

        Assert.Equal(2, report.GetProperty("targets").GetArrayLength());
    }

    [Fact]
    public async Task Concurrency_Quick_ReportsPhasesAndMemoryForScratchAndSharedCache()
    {
        var report = await RunAsync("concurrency");

        var rows = Rows(report);
        Assert.Equal(
            ["scratch noop 1", "scratch noop 5", "cache noop 1", "cache noop 5"],
            rows.Select(r => $"{r.GetProperty("workspace").GetString()} {r.GetProperty("workload").GetString()} {r.GetProperty("n").GetInt32()}"));
        foreach (var row in rows)
        {
            Assert.Equal(0, row.GetProperty("failures").GetInt32());
            foreach (var figure in new[] { "stageP50Ms", "publishP50Ms", "totalP50Ms", "totalP95Ms", "overheadP50Ms", "wallMs", "serverPeakRssMb" })
            {
                Assert.True(row.GetProperty(figure).GetDouble() > 0, $"{figure}: {row}");
            }

            Assert.True(row.GetProperty("totalP95Ms").GetDouble() >= row.GetProperty("totalP50Ms").GetDouble(), row.ToString());
        }
    }

    [Fact]
    public async Task Api_Quick_ReportsRequestsLatencyAndNoErrors()
    {
        var report = await RunAsync("api");

        var rows = Rows(report);
        string[] requests = ["status", "list", "log", "status+list", "all"];
        Assert.Equal([.. requests.Select(r => "polling " + r), .. requests.Select(r => "saturation " + r)],
            rows.Select(r => $"{r.GetProperty("mode").GetString()} {r.GetProperty("request").GetString()}"));
        // Polling clients send one request a second each; saturating ones, back to back, many more.
        Assert.True(rows[9].GetProperty("requests").GetInt64() > rows[4].GetProperty("requests").GetInt64(), $"{rows[4]} vs {rows[9]}");
        foreach (var row in rows)
        {
            Assert.Equal(20, row.GetProperty("clients").GetInt32());
            Assert.Equal(0, row.GetProperty("errors").GetInt64());
            Assert.True(row.GetProperty("requests").GetInt64() > 0, row.ToString());
            Assert.True(row.GetProperty("requestsPerSecond").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("p50Ms").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("p99Ms").GetDouble() >= row.GetProperty("p50Ms").GetDouble(), row.ToString());
        }
    }

    [Fact]
    public async Task Transfer_Quick_ReportsUploadAndDownloadBesideCp()
    {
        var report = await RunAsync("transfer");

        var rows = Rows(report);
        Assert.Equal(["upload", "download"], rows.Select(r => r.GetProperty("direction").GetString()));
        foreach (var row in rows)
        {
            Assert.True(row.GetProperty("bytes").GetInt64() > 64L << 20, row.ToString());
            Assert.True(row.GetProperty("megabytesPerSecond").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("cpMegabytesPerSecond").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("ratioToCp").GetDouble() > 0, row.ToString());
            Assert.True(row.GetProperty("ratioToDurableCp").GetDouble() > 0, row.ToString());
            Assert.Equal(JsonValueKind.Number, row.GetProperty("serverMemoryGrowthMb").ValueKind);
        }
    }

    [Fact]
    public async Task Throughput_Quick_WithARunnerProcessPerBuild_CountsCompletedBuilds()
    {
        // --set reconfigures the embedded server: here the runner placement the in-process default replaced.
        var report = await RunAsync("throughput", "--set", "Executor:Runner=Process");

        Assert.EndsWith("with Executor:Runner=Process", report.GetProperty("server").GetString(), StringComparison.Ordinal);
        var row = Assert.Single(Rows(report));
        Assert.Equal(0, row.GetProperty("failures").GetInt32());
        Assert.True(row.GetProperty("completed").GetInt32() > 0, row.ToString());
        Assert.True(row.GetProperty("buildsPerSecond").GetDouble() > 0, row.ToString());
        Assert.True(row.GetProperty("windowSeconds").GetDouble() >= 10, row.ToString());
        Assert.True(row.GetProperty("serverPeakRssMb").GetDouble() > 0, row.ToString());
    }

    [Fact]
    public async Task Iops_Quick_CountsSharedVolumeOperationsForThreePlacementsAndModelsThem()
    {
        var report = await RunAsync("iops");

        var rows = Rows(report);
        Assert.True(rows.Single(r => r.TryGetProperty("buildSeconds", out _) && r.TryGetProperty("runs", out _) && !r.TryGetProperty("placement", out _))
            .GetProperty("buildSeconds").GetDouble() > 0);
        var measured = rows.Where(r => r.TryGetProperty("sharedOps", out _)).ToDictionary(r => r.GetProperty("placement").GetString()!);
        Assert.Equal(["AsIs", "ToBe", "Keyed"], measured.Keys);
        Assert.Equal(0, measured["Keyed"].GetProperty("sharedOps").GetInt64());
        Assert.True(measured["AsIs"].GetProperty("sharedOps").GetInt64() >= measured["ToBe"].GetProperty("sharedOps").GetInt64(), measured["AsIs"].ToString());
        Assert.True(measured["ToBe"].GetProperty("sharedOps").GetInt64() > 0, measured["ToBe"].ToString());
        foreach (var row in measured.Values)
        {
            Assert.True(row.GetProperty("workspaceOps").GetInt64() > 0, row.ToString());
            Assert.True(row.GetProperty("repositoryOps").GetInt64() > 0, row.ToString());
            Assert.True(row.GetProperty("otherOps").GetInt64() > 0, row.ToString());
            Assert.True(row.GetProperty("straceSummaryCalls").GetInt64() >= row.GetProperty("fileOpsTotal").GetInt64(), row.ToString());
        }

        var volume = rows.Where(r => r.TryGetProperty("volumeOps", out _)).ToList();
        Assert.Equal(9, volume.Count); // three placements at k = 0 (no budget), 1 and 4
        Assert.All(volume.Where(v => v.GetProperty("placement").GetString() == "Keyed"), v => Assert.Equal(0, v.GetProperty("volumeOps").GetInt64()));

        var predictions = rows.Where(r => r.TryGetProperty("concurrentBuilds", out _)).ToList();
        Assert.Equal([1, 5, 10, 20, 50], predictions.Select(p => p.GetProperty("concurrentBuilds").GetInt32()));
        var toBe = predictions.Select(p => p.GetProperty("toBeSeconds").GetDouble()).ToList();
        Assert.True(toBe.SequenceEqual(toBe.Order()) && toBe[^1] > toBe[0], string.Join(", ", toBe));
        Assert.All(predictions, p => Assert.True(p.GetProperty("asIsSeconds").GetDouble() >= p.GetProperty("toBeSeconds").GetDouble()));
        Assert.All(predictions, p => Assert.Equal(p.GetProperty("localScratchSeconds").GetDouble(), p.GetProperty("keyedSeconds").GetDouble()));
        Assert.Contains(rows, r => r.TryGetProperty("syscall", out var name) && name.GetString() == "openat");
    }

    [Fact]
    public async Task Cache_Quick_RestoresWithCacheArchiveBesideTar()
    {
        var report = await RunAsync("cache");

        var row = Assert.Single(Rows(report));
        Assert.True(row.GetProperty("files").GetInt32() > 0, row.ToString());
        Assert.True(row.GetProperty("unpackMedianMs").GetDouble() > 0, row.ToString());
        Assert.True(row.GetProperty("tarMedianMs").GetDouble() > 0, row.ToString());
        Assert.True(row.GetProperty("ratio").GetDouble() > 0, row.ToString());
        // Both of issue 14's restore targets: the ratio to tar, and an exact hit over the machine's read-only copy (root, as here).
        Assert.Equal(2, report.GetProperty("targets").GetArrayLength());
        Assert.True(row.GetProperty("layerHitMedianMs").GetDouble() > 0, row.ToString());
    }

    [Theory]
    [InlineData("Executor:Runner", "--set expects KEY=VALUE")]
    [InlineData("=Process", "--set expects KEY=VALUE")]
    public async Task Set_NotKeyEqualsValue_IsAUsageError(string set, string message)
    {
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, new Dictionary<string, string>(), TimeSpan.FromMinutes(1), "bench", "overhead", "--quick", "--set", set);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Set_WithARemoteServer_IsAUsageError()
    {
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, new Dictionary<string, string> { ["AUTOBUILDER_API_KEY"] = "abk_x" }, TimeSpan.FromMinutes(1),
            "bench", "api", "--server", "http://127.0.0.1:9", "--set", "Executor:Runner=Process");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot change a --server deployment", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownScenario_IsAUsageError()
    {
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, new Dictionary<string, string>(), TimeSpan.FromMinutes(1), "bench", "nonsense");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("overhead", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Runs a scenario with --quick; 10 minutes is a hang guard for a saturated machine, not a timing threshold.</summary>
    private static async Task<JsonElement> RunAsync(string scenario, params string[] extra)
    {
        var json = Path.Combine(TestPaths.NewTempDirectory("bench"), scenario + ".json");
        var result = await CliProcess.RunAsync(TestPaths.RepoRoot, new Dictionary<string, string>(), TimeSpan.FromMinutes(10), ["bench", scenario, "--quick", "--json", json, .. extra]);

        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StdoutText}\n{result.Stderr}");
        Assert.Contains($"== {scenario} (--quick)", result.StdoutText, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var report = document.RootElement.Clone();
        Assert.Equal(scenario, report.GetProperty("scenario").GetString());
        Assert.True(report.GetProperty("quick").GetBoolean());
        Assert.True(report.GetProperty("machine").GetProperty("cores").GetInt32() > 0);
        Directory.Delete(Path.GetDirectoryName(json)!, recursive: true);
        return report;
    }

    private static List<JsonElement> Rows(JsonElement report) => report.GetProperty("rows").EnumerateArray().ToList();
}
