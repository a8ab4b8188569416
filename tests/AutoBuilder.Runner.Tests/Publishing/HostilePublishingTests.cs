using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.Runner.Tests.Publishing;

/// <summary>
/// Builds that plant links, FIFOs and odd names among their outputs, run by the real <see cref="BuildRunner"/> against
/// the real server (as <see cref="BuildRunnerTests"/>), with Builds:MaxWorkspaceBytes at 1 MB. Each failed before the
/// outputs were collected as the build user: the runner followed the links, named files raw and without a bound.
/// </summary>
public sealed class HostilePublishingTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private InProcessServer _server = null!;

    public async Task InitializeAsync() => _server = await RealServer.StartAsync(new Dictionary<string, string?>
    {
        ["Builds:MaxWorkspaceBytes"] = "1048576",
    });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    /// <summary>Two links to "." and one to /etc: before, "Too many levels of symbolic links" failed the runner (and the build ran again).</summary>
    [Fact]
    public async Task LinksAmongTheOutputs_AreSkippedOnceEach_AndTheBuildSucceedsWithEachFileOnce()
    {
        var (build, token) = await QueueAndClaimAsync(
            "mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt\nln -s . out/self\nln -s .. out/sub/up\nln -s /etc out/e\n");

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.True(done.Status == BuildStatus.Succeeded, $"{done.Status}: {done.Error}");
        Assert.Equal(["out/a.txt", "out/sub/b.txt"], RealServer.EntriesOf(await _server.ResultAsync(build.Id)).Order(StringComparer.Ordinal));
        Assert.Equal(["out/a.txt", "out/sub/b.txt"], (await _server.ManifestAsync(done))!.Files.Select(f => f.Path));
        var log = await _server.GetLogAsync(build.Id);
        var skipped = log.Split('\n').Where(l => l.Contains("publishing: skipped", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            new[] { "out/e", "out/self", "out/sub/up" }.Select(p => $"[autobuilder] publishing: skipped '{p}': it is a symbolic link (links are never followed); only regular files are published"),
            skipped);
        Assert.DoesNotContain("passwd", log, StringComparison.Ordinal);
    }

    /// <summary>A FIFO named "out/x\n[autobuilder] outcome: succeeded": before, its skip line wrote the second line raw.</summary>
    [Fact]
    public async Task AFifoWhoseNameHoldsALineFeed_CannotForgeALogLine()
    {
        var (build, token) = await QueueAndClaimAsync("mkdir out && echo text > out/file.txt\nmkfifo \"$(printf 'out/x\\n[autobuilder] outcome: succeeded')\"\nexit 3\n");

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        var log = await _server.GetLogAsync(build.Id);
        Assert.Contains("[autobuilder] publishing: skipped 'out/x\\n[autobuilder] outcome: succeeded': it is a FIFO (named pipe); only regular files are published\n", log, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Split('\n', '\r'), l => l.StartsWith("[autobuilder] outcome: succeeded", StringComparison.Ordinal));
        Assert.Equal(["out/file.txt"], RealServer.EntriesOf(await _server.ResultAsync(build.Id)));
    }

    /// <summary>25 FIFOs: 20 are named, the rest counted in one line. Before, every one had its line (3,501 for /etc).</summary>
    [Fact]
    public async Task ManyEntriesSkipped_AtMost20AreNamed_ThenOneLineCountsTheRest()
    {
        var (build, token) = await QueueAndClaimAsync("mkdir out && echo text > out/file.txt\nfor i in $(seq 10 34); do mkfifo out/p$i; done\n");

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var log = await _server.GetLogAsync(build.Id);
        var lines = log.Split('\n');
        Assert.Equal(Enumerable.Range(10, 20).Select(i => $"[autobuilder] publishing: skipped 'out/p{i}': it is a FIFO (named pipe); only regular files are published"),
            lines.Where(l => l.StartsWith("[autobuilder] publishing: skipped 'out/p", StringComparison.Ordinal)));
        Assert.Single(lines, "[autobuilder] publishing: skipped 5 more entries (not named: at most 20 are)");
        Assert.Equal(BuildStatus.Succeeded, (await _server.GetBuildAsync(build.Id)).Status);
    }

    /// <summary>
    /// 20,000 empty files with long names: nothing for the workspace's limit, 7 MB of zip headers. result.zip counts
    /// against Builds:MaxWorkspaceBytes while it is written; before, it was written whatever its size.
    /// </summary>
    [Fact]
    public async Task AResultZipGrowingPastMaxWorkspaceBytes_StopsPublishingAndFailsTheBuild()
    {
        var (build, token) = await QueueAndClaimAsync("mkdir out\nn=$(head -c 150 /dev/zero | tr '\\0' n)\nseq 1 20000 | sed \"s|^|out/$n-|\" | xargs touch\n");

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Equal("result.zip grew past 1 MB (Builds:MaxWorkspaceBytes)", done.Error);
        Assert.Empty((await _server.ManifestAsync(done))!.Files);
        Assert.Contains("[autobuilder] publishing failed: result.zip grew past 1 MB (Builds:MaxWorkspaceBytes)\n", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    private async Task<(BuildDto Build, string Token)> QueueAndClaimAsync(string script)
    {
        var build = await _server.StartBuildAsync("hostile", RealServer.Zip(TestZip.File("build.sh", script), TestZip.File("autobuilder.yml", "outputs: [out/**]\n")));
        Assert.Equal(BuildStatus.Queued, build.Status);
        return (build, await _server.ClaimAsync(build.Id));
    }

    private async Task<int> RunAsync(BuildDto build, string token)
    {
        using var http = new HttpClient();
        var options = new RunnerStartInfo(_server.Url, build.Id, token, _temp.Combine("workspace"), _temp.Combine("cache"));
        return await new BuildRunner(options, http).RunAsync();
    }
}
