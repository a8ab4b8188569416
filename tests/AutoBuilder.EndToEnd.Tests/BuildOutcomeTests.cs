using System.Net.Http.Json;
using System.Text.RegularExpressions;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Builds that fail, time out, are cancelled, or look for secrets in their environment.</summary>
public sealed partial class BuildOutcomeTests(BuildOutcomeTests.Fixture fixture) : IClassFixture<BuildOutcomeTests.Fixture>
{
    public sealed class Fixture : ServerFixture
    {
        public const string Canary = "canary-3f9a7c1e";

        // A secret in the server's own environment must never reach a build.
        protected override IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
        {
            ["AUTOBUILDER_TEST_SECRET"] = Canary,
            ["AZURE_STORAGE_CONNECTION_STRING"] = $"AccountKey={Canary}",
        };
    }

    [Fact]
    public async Task Build_CompileError_EndsFailedWithCompilerMessageInLog()
    {
        var server = fixture.Server;
        var source = TestPaths.NewTempDirectory("broken");
        CopyDirectory(Path.Combine(TestPaths.Samples, "maven-hello"), source);
        var main = Directory.GetFiles(Path.Combine(source, "src", "main"), "*.java", SearchOption.AllDirectories).First();
        await File.AppendAllTextAsync(main, "\nthis is not java;\n");
        var project = $"broken-{Guid.NewGuid():N}"[..20];

        var result = await CliProcess.RunAsync(server, source, "build", source, "--project", project, "--no-download");

        Assert.NotEqual(0, result.ExitCode);
        using var client = server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Failed, build.Status);
        Assert.NotNull(build.ExitCode);
        Assert.NotEqual(0, build.ExitCode);
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.Contains("COMPILATION ERROR", log, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(main), log, StringComparison.Ordinal);
        Directory.Delete(source, recursive: true);
    }

    [Fact]
    public async Task Build_PastItsTimeout_EndsTimedOutWithProcessesGone()
    {
        using var client = fixture.Server.CreateClient();
        var marker = Marker();
        var build = await ApiCalls.StartBuildAsync(client, $"slow-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            // The test must find the processes before the timeout kills them (the server's clock is real): 30 s leaves a
            // loaded machine room for the log line to arrive; 6 s could be missed. Nothing asserts on how long it took.
            ["autobuilder.yml"] = "timeout: 30s\n",
            ["build.sh"] = $"sleep {marker} &\necho \"child pid $!\"\nsleep {marker}\n",
        });
        var pids = await ChildPidsAsync(client, build.Id, marker); // while they run: the build must not end first.

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.Equal(BuildStatus.TimedOut, ended.Status);
        Assert.Contains("timed out", ended.Error ?? "", StringComparison.OrdinalIgnoreCase);
        await AssertProcessesGoneAsync(pids);
    }

    [Fact]
    public async Task Cancel_RunningBuild_EndsCancelledAndStopsItsProcesses()
    {
        using var client = fixture.Server.CreateClient();
        var marker = Marker();
        var build = await ApiCalls.StartBuildAsync(client, $"cancel-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["build.sh"] = $"sleep {marker} &\necho \"child pid $!\"\nsleep {marker}\n",
        });
        await ApiCalls.WaitForAsync(client, build.Id, b => b.Phase == BuildPhase.Building);
        var pids = await ChildPidsAsync(client, build.Id, marker);

        using var response = await client.PostAsync(ApiRoutes.CancelBuild(build.Id), null);

        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(BuildStatus.Cancelled, (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!.Status);
        await AssertProcessesGoneAsync(pids);
        Assert.Equal(BuildStatus.Cancelled, (await ApiCalls.GetBuildAsync(client, build.Id)).Status);
    }

    [Fact]
    public async Task Build_PrintingItsEnvironment_ShowsNoTokenKeyOrServerSetting()
    {
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"env-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["build.sh"] = "echo ENV-START\nenv | sort\necho ENV-END\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);
        var log = await ApiCalls.GetLogAsync(client, build.Id);

        Assert.Equal(BuildStatus.Succeeded, ended.Status);
        Assert.Contains("ENV-END", log, StringComparison.Ordinal);
        Assert.DoesNotContain(Fixture.Canary, log, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.AdminKey, log, StringComparison.Ordinal);
        Assert.DoesNotContain($"{build.Id}.", log, StringComparison.Ordinal); // build tokens are "{buildId}.{attempt}.{mac}"
        Assert.DoesNotContain($"127.0.0.1:{fixture.Server.Url.Port}", EnvSection(log), StringComparison.Ordinal);
        Assert.DoesNotMatch("(?m)^(Toolchains__|Storage__|ConnectionStrings__|Dispatcher__|Executor__|AUTOBUILDER_API_KEY|AZURE_)", EnvSection(log));
    }

    [Fact]
    public async Task Build_PublishingThousandsOfFiles_Succeeds()
    {
        // complete lists every file of result.zip: 3,000 entries are ~400 KB of JSON, past Server:MaxJsonBytes (64 KiB).
        using var client = fixture.Server.CreateClient();
        var build = await ApiCalls.StartBuildAsync(client, $"many-{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["build.sh"] = "mkdir -p out/a-rather-long-folder-name-for-paths && cd out/a-rather-long-folder-name-for-paths && i=0; while [ $i -lt 3000 ]; do echo $i > file-$i.txt; i=$((i+1)); done\n",
            ["autobuilder.yml"] = "outputs: [out/**]\n",
        });

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.True(ended.Status == BuildStatus.Succeeded, $"{ended.Status}: {ended.Error}");
        var result = Path.Combine(fixture.Server.BlobRoot, "projects", ended.ProjectId, "builds", ended.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), "result.zip");
        using var zip = System.IO.Compression.ZipFile.OpenRead(result);
        Assert.Equal(3000, zip.Entries.Count(e => e.FullName.StartsWith("out/", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("2.0.0", false)]
    [InlineData("2.0.0-SNAPSHOT", true)]
    public async Task Rebuild_SameVersionOtherContent_ReleaseIsKeptSnapshotIsReplaced(string version, bool secondSucceeds)
    {
        using var client = fixture.Server.CreateClient();
        var project = $"versions-{Guid.NewGuid():N}"[..20];
        var files = new Dictionary<string, string>
        {
            // Every run writes other bytes, as a real rebuild would.
            ["build.sh"] = "mkdir -p out && head -c 64 /dev/urandom > out/app.bin\n",
            ["autobuilder.yml"] = $"version: {version}\noutputs: [out/**]\nartifacts: [out/app.bin]\n",
        };
        var first = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id);
        var promoted = Path.Combine(fixture.Server.BlobRoot, "artifacts", project, version, "app.bin");
        var firstBytes = await File.ReadAllBytesAsync(promoted);

        var second = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id);

        Assert.Equal(BuildStatus.Succeeded, first.Status);
        if (secondSucceeds)
        {
            Assert.Equal(BuildStatus.Succeeded, second.Status);
            Assert.NotEqual(firstBytes, await File.ReadAllBytesAsync(promoted));
        }
        else
        {
            Assert.Equal(BuildStatus.Failed, second.Status);
            Assert.Contains("already exists", second.Error ?? "", StringComparison.Ordinal);
            Assert.Equal(firstBytes, await File.ReadAllBytesAsync(promoted));
        }
    }

    private static string EnvSection(string log) => log[log.IndexOf("ENV-START", StringComparison.Ordinal)..log.IndexOf("ENV-END", StringComparison.Ordinal)];

    /// <summary>A sleep duration that names the build's processes: "300.NNNNNN" seconds.</summary>
    private static string Marker() => "300." + Random.Shared.Next(100_000, 999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The host's pids of the build's sleeps, once the build says its child started. Found by their command line:
    /// a sandboxed build runs in its own pid namespace, so the pid it prints ($!) is not the host's.
    /// </summary>
    private static async Task<List<int>> ChildPidsAsync(HttpClient client, string buildId, string marker)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!ChildPid().IsMatch(await ApiCalls.GetLogAsync(client, buildId)))
        {
            await Task.Delay(100, timeout.Token);
        }

        List<int> pids = [.. Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, System.Globalization.CultureInfo.InvariantCulture))
            .Where(pid => CommandLine(pid).Contains(marker, StringComparison.Ordinal))];
        Assert.NotEmpty(pids);
        return pids;
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static async Task AssertProcessesGoneAsync(List<int> pids)
    {
        foreach (var pid in pids)
        {
            await AssertProcessGoneAsync(pid);
        }
    }

    /// <summary>Waits for a process to disappear (the limit is a hang guard, not a deadline the kill must meet); a zombie counts as gone.</summary>
    private static async Task AssertProcessGoneAsync(int pid)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        while (IsAlive(pid))
        {
            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"process {pid} is still running");
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        var status = $"/proc/{pid}/status";
        return File.Exists(status) && !File.ReadAllText(status).Contains("State:\tZ", StringComparison.Ordinal);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("target", StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
        }
    }

    [GeneratedRegex("child pid (\\d+)")]
    private static partial Regex ChildPid();
}
