using System.Globalization;
using System.Net;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Runner.Tests;

/// <summary>The whole attempt against an in-memory API and blob store.</summary>
public sealed class BuildRunnerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task RunAsync_ScriptSample_CompletesWithResultArtifactsManifestAndLog()
    {
        using var api = new FakeApi(FakeApi.Zip(Samples.Directory("script-hello")));

        var exitCode = await Run(api);

        Assert.Equal(RunnerExitCodes.Completed, exitCode);
        var complete = api.Completed!;
        Assert.Equal(BuildOutcome.Succeeded, complete.Outcome);
        Assert.Equal(0, complete.ExitCode);
        Assert.Null(complete.Error);
        Assert.Equal("script", complete.Toolchain);
        Assert.Equal("sh build.sh", complete.Command);
        Assert.Equal("1.0.0", complete.Version);
        Assert.Equal(["dist/script-hello.tar.gz", "out/build-info.txt", "out/hello.txt"], complete.Files.Select(f => f.Path));
        Assert.Equal("script-hello.tar.gz", Assert.Single(complete.Artifacts).Path);
        Assert.NotNull(complete.Durations.Stage);
        Assert.NotNull(complete.Durations.Build);
        Assert.NotNull(complete.Durations.Publish);

        Assert.Equal([BuildPhase.Staging, BuildPhase.Building, BuildPhase.Publishing], api.Phases);
        Assert.Equal(new HashSet<string>(["out/hello.txt", "out/build-info.txt", "dist/script-hello.tar.gz"]), FakeApi.EntriesOf(api.Blobs["result"]));
        Assert.True(api.Blobs.ContainsKey("artifacts/script-hello.tar.gz"));
        Assert.Equal(BuildOutcome.Succeeded, api.Manifest!.Status);
        Assert.Equal(complete.Files, api.Manifest.Files);

        Assert.Contains("[autobuilder] toolchain script: sh build.sh\n", api.Log, StringComparison.Ordinal);
        Assert.Contains("built out/hello.txt and dist/script-hello.tar.gz\n", api.Log, StringComparison.Ordinal);
        Assert.Contains("[autobuilder] outcome: succeeded\n", api.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeApi.Token, api.Log, StringComparison.Ordinal);

        // The token goes to the API only; signed URLs carry their own signature.
        Assert.All(api.Calls.Where(c => c.Uri.Host == "storage.test"), c => Assert.Null(c.Authorization));
        Assert.All(api.Calls.Where(c => c.Uri.Host == "api.test"), c => Assert.Equal($"Bearer {FakeApi.Token}", c.Authorization));
        Assert.False(File.Exists(_temp.Combine("workspace", "source.zip")));
    }

    [Fact]
    public async Task RunAsync_BuildCannotReadTheToken()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "env; cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n'; echo done")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Contains("done\n", api.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeApi.Token, api.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("api.test", api.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_FailingCommand_CompletesFailedWithManifestAndNoArtifacts()
    {
        using var api = new FakeApi(FakeApi.Zip(
            TestZip.File("build.sh", "mkdir -p out; echo partial > out/log.txt; echo broken >&2; exit 4"),
            TestZip.File("autobuilder.yml", "outputs: [out/**]\nartifacts: [out/*.txt]\n")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.Failed, api.Completed!.Outcome);
        Assert.Equal(4, api.Completed.ExitCode);
        Assert.Equal("build command exited with code 4", api.Completed.Error);
        Assert.Empty(api.Completed.Artifacts);
        Assert.DoesNotContain(api.UploadRequests, u => u.Kind == UploadKind.Artifact);
        Assert.Equal(["out/log.txt"], api.Completed.Files.Select(f => f.Path)); // outputs kept for diagnosis.
        Assert.Equal(BuildOutcome.Failed, api.Manifest!.Status);
        Assert.Contains("broken\n", api.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_HostileZip_FailsAtStagingNamingTheEntry()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo hi"), TestZip.File("../../evil.sh", "x")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.Failed, api.Completed!.Outcome);
        Assert.Contains("refused ZIP entry '../../evil.sh'", api.Completed.Error, StringComparison.Ordinal);
        Assert.Equal([BuildPhase.Staging, BuildPhase.Publishing], api.Phases);
        Assert.NotNull(api.Manifest);
        Assert.False(File.Exists(_temp.Combine("evil.sh")));
    }

    [Fact]
    public async Task RunAsync_BadYml_FailsAtStagingNamingTheKey()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo hi"), TestZip.File("autobuilder.yml", "timeout: forever\n")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.Failed, api.Completed!.Outcome);
        Assert.Contains("autobuilder.yml: timeout 'forever'", api.Completed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_CommandOutlivesTimeout_CompletesTimedOut()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo started; sleep 1000"), TestZip.File("autobuilder.yml", "timeout: 1s\n")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.TimedOut, api.Completed!.Outcome);
        Assert.Equal("build timed out after 1s", api.Completed.Error);
        Assert.Contains("started\n", api.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_YmlTimeoutAboveMaximum_IsCapped()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "sleep 1000"), TestZip.File("autobuilder.yml", "timeout: 2h\n")), maxTimeoutSeconds: 1);

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.TimedOut, api.Completed!.Outcome);
        Assert.Contains("is capped at the maximum 1s", api.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_LogStorageDown_CompletesFailedNamingTheStorageFailure()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo hi"))) { LogFailure = HttpStatusCode.ServiceUnavailable };

        Assert.Equal(RunnerExitCodes.Completed, await Run(api));

        Assert.Equal(BuildOutcome.Failed, api.Completed!.Outcome);
        Assert.Contains("the build log could not be written to storage", api.Completed.Error, StringComparison.Ordinal);
        Assert.Contains("503", api.Completed.Error, StringComparison.Ordinal);
        Assert.Equal(BuildOutcome.Failed, api.Manifest!.Status);
    }

    [Fact]
    public async Task RunAsync_PhaseAnswers409_StopsWithoutCompleting()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo hi"))) { PhaseAnswer = (_, _) => HttpStatusCode.Conflict };

        Assert.Equal(RunnerExitCodes.Stale, await Run(api));

        Assert.Null(api.Completed);
    }

    [Fact]
    public async Task RunAsync_HeartbeatAnswers409_KillsTheBuildAndStops()
    {
        var pidFile = _temp.Combine("pid");
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", $"sleep 1000 & echo $! > {pidFile}; wait")))
        {
            // The first heartbeat after the building report says the build was cancelled.
            PhaseAnswer = (phase, count) => phase == BuildPhase.Building && count > 1 ? HttpStatusCode.Conflict : null,
        };

        Assert.Equal(RunnerExitCodes.Stale, await Run(api, heartbeat: TimeSpan.FromMilliseconds(200)));

        Assert.Null(api.Completed);
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        Assert.False(File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_Cancelled_ReturnsCancelledWithoutCompleting()
    {
        var started = _temp.Combine("started");
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", $"touch {started}; sleep 1000")));
        using var cancel = new CancellationTokenSource();

        var run = Run(api, cancellationToken: cancel.Token);
        while (!File.Exists(started))
        {
            await Task.Delay(20);
        }

        await cancel.CancelAsync();

        Assert.Equal(RunnerExitCodes.Cancelled, await run);
        Assert.Null(api.Completed);
    }

    [Fact]
    public async Task RunAsync_WrongToken_Unauthorized()
    {
        using var api = new FakeApi(FakeApi.Zip(TestZip.File("build.sh", "echo hi")));
        using var http = new HttpClient(api, disposeHandler: false);
        var runner = new BuildRunner(new RunnerOptions(FakeApi.ApiUrl, FakeApi.BuildId, "wrong", _temp.Combine("workspace"), null), http);

        Assert.Equal(RunnerExitCodes.Unauthorized, await runner.RunAsync());
    }

    [Fact]
    public void RunnerOptions_ToString_HidesTheToken()
    {
        var options = new RunnerOptions(FakeApi.ApiUrl, FakeApi.BuildId, FakeApi.Token, "/w", null);
        Assert.DoesNotContain(FakeApi.Token, options.ToString(), StringComparison.Ordinal);
    }

    private async Task<int> Run(FakeApi api, TimeSpan? heartbeat = null, CancellationToken cancellationToken = default)
    {
        using var http = new HttpClient(api, disposeHandler: false);
        var options = new RunnerOptions(FakeApi.ApiUrl, FakeApi.BuildId, FakeApi.Token, _temp.Combine("workspace"), _temp.Combine("cache"))
        {
            HeartbeatInterval = heartbeat ?? TimeSpan.FromSeconds(30),
        };
        return await new BuildRunner(options, http).RunAsync(cancellationToken);
    }
}
