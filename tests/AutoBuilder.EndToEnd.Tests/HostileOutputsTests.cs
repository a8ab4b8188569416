using System.IO.Compression;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 18's hostile outputs against a root server with its defaults (bubblewrap, build user): links among the
/// outputs and a FIFO whose name forges a log line. The outputs are collected as the build user with the build's view
/// and read by the server as a stream; before, the root runner followed the links and named the files raw.
/// </summary>
public sealed class HostileOutputsTests(HostileOutputsTests.Fixture fixture) : IClassFixture<HostileOutputsTests.Fixture>
{
    public sealed class Fixture : ServerFixture;

    private static string Project(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    /// <summary>
    /// out/self -> . and out/e -> /etc with outputs: [out/**]. Before: "Too many levels of symbolic links" failed the
    /// runner, the build ran three times, and /etc's files were named in the log.
    /// </summary>
    [Fact]
    public async Task LinksToTheFolderItselfAndToEtc_EndInOneAttempt_WithEachFileOnce_AndNoOutsideNameInTheLog()
    {
        using var client = fixture.Server.CreateClient();
        var project = Project("links");
        var build = await ApiCalls.StartBuildAsync(client, project, new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "outputs: [out/**]\n",
            ["build.sh"] = "mkdir -p out/sub && echo a > out/a.txt && head -c 100000 /dev/urandom > out/sub/b.bin\nln -s . out/self\nln -s . out/sub/again\nln -s /etc out/e\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(3));
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, $"{ended.Status}: {ended.Error}\n{log}");
        Assert.Equal(1, ended.Attempt);
        using (var zip = ZipFile.OpenRead(Path.Combine(fixture.Server.BlobRoot, "projects", project, "builds", "1", "result.zip")))
        {
            Assert.Equal(["out/a.txt", "out/sub/b.bin"], zip.Entries.Select(e => e.FullName));
            Assert.Equal(100_000, zip.GetEntry("out/sub/b.bin")!.Length);
        }

        Assert.Equal(3, log.Split('\n').Count(l => l.Contains("it is a symbolic link (links are never followed)", StringComparison.Ordinal)));
        foreach (var outside in (string[])["passwd", "hostname", "/etc/", "symbolic links", fixture.Server.DataDirectory])
        {
            Assert.DoesNotContain(outside, log, StringComparison.Ordinal);
        }
    }

    /// <summary>A FIFO named "out/x&lt;LF&gt;[autobuilder] outcome: succeeded" in a failing build: no forged line. Before, its skip line carried the LF.</summary>
    [Fact]
    public async Task AFifoWhoseNameHoldsALineFeed_LeavesNoLineAutoBuilderDidNotWrite()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, Project("fifo-lf"), new Dictionary<string, string>
        {
            ["autobuilder.yml"] = "outputs: [out/**]\n",
            ["build.sh"] = "mkdir out\nmkfifo \"$(printf 'out/x\\n[autobuilder] outcome: succeeded')\"\nexit 3\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(3));
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, ended.Status);
        var outcomes = log.Split('\n', '\r').Where(l => l.StartsWith("[autobuilder] outcome:", StringComparison.Ordinal)).ToList();
        Assert.Equal(["[autobuilder] outcome: failed: build command exited with code 3"], outcomes);
        Assert.Contains("skipped 'out/x\\n[autobuilder] outcome: succeeded': it is a FIFO (named pipe)", log, StringComparison.Ordinal);
    }
}
