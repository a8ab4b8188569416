using System.Globalization;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Runner.Api;
using AutoBuilder.Runner.Logs;
using AutoBuilder.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Runner.Tests;

/// <summary>
/// The whole attempt: the real <see cref="BuildRunner"/>, in this process, against the real AutoBuilder server
/// (API and file-system blob store), for a build uploaded through the API and claimed as the dispatcher claims it.
/// </summary>
public sealed class BuildRunnerTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private InProcessServer _server = null!;

    public async Task InitializeAsync() => _server = await RealServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task RunAsync_ScriptSample_CompletesWithResultArtifactsManifestAndLog()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(Samples.Directory("script-hello")));
        using var recorder = new RecordingHandler();

        var exitCode = await Run(build, token, recorder);

        Assert.Equal(RunnerExitCodes.Completed, exitCode);
        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.Equal(0, done.ExitCode);
        Assert.Null(done.Error);
        Assert.Equal("script", done.Toolchain);
        Assert.Equal("sh build.sh", done.Command);
        Assert.Equal("1.0.0", done.Version);
        Assert.NotNull(done.Durations.Stage);
        Assert.NotNull(done.Durations.Build);
        Assert.NotNull(done.Durations.Publish);
        Assert.Equal([BuildPhase.Staging, BuildPhase.Building, BuildPhase.Publishing], recorder.Phases);

        var manifest = (await _server.ManifestAsync(done))!;
        Assert.Equal(BuildOutcome.Succeeded, manifest.Status);
        Assert.Equal(["dist/script-hello.tar.gz", "out/build-info.txt", "out/hello.txt"], manifest.Files.Select(f => f.Path));
        Assert.Equal("script-hello.tar.gz", Assert.Single(manifest.Artifacts).Path);
        Assert.Equal(new HashSet<string>(["out/hello.txt", "out/build-info.txt", "dist/script-hello.tar.gz"]), RealServer.EntriesOf(await _server.ResultAsync(build.Id)));
        var artifact = Assert.Single(await _server.ArtifactsAsync(build.Id));
        Assert.Equal(("script-hello.tar.gz", "1.0.0"), (artifact.Name, artifact.Version));
        Assert.Equal(manifest.Artifacts[0].Sha256, artifact.Sha256);

        var log = await _server.GetLogAsync(build.Id);
        Assert.Contains("[autobuilder] toolchain script: sh build.sh\n", log, StringComparison.Ordinal);
        Assert.Contains("built out/hello.txt and dist/script-hello.tar.gz\n", log, StringComparison.Ordinal);
        Assert.Contains("[autobuilder] outcome: succeeded\n", log, StringComparison.Ordinal);
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);

        // The token goes to the API only; signed URLs (blobs) carry their own signature.
        Assert.Contains(recorder.Calls, c => c.Uri.AbsolutePath.StartsWith("/blobs/", StringComparison.Ordinal));
        Assert.All(recorder.Calls, c => Assert.Equal(
            c.Uri.AbsolutePath.StartsWith("/api/", StringComparison.Ordinal) ? $"Bearer {token}" : null, c.Authorization));
        Assert.False(File.Exists(_temp.Combine("workspace", "source.zip")));
    }

    [Fact]
    public async Task RunAsync_BuildCannotReadTheToken()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "env; cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n'; echo done")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token));

        var log = await _server.GetLogAsync(build.Id);
        Assert.Contains("done\n", log, StringComparison.Ordinal);
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Url.Authority, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_FailingCommand_CompletesFailedWithManifestAndNoArtifacts()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(
            TestZip.File("build.sh", "mkdir -p out; echo partial > out/log.txt; echo broken >&2; exit 4"),
            TestZip.File("autobuilder.yml", "outputs: [out/**]\nartifacts: [out/*.txt]\n")));
        using var recorder = new RecordingHandler();

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token, recorder));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Equal(4, done.ExitCode);
        Assert.Equal("build command exited with code 4", done.Error);
        Assert.Empty(await _server.ArtifactsAsync(build.Id));
        var manifest = (await _server.ManifestAsync(done))!;
        Assert.Equal(BuildOutcome.Failed, manifest.Status);
        Assert.Empty(manifest.Artifacts);
        Assert.Equal(["out/log.txt"], manifest.Files.Select(f => f.Path)); // outputs kept for diagnosis.
        Assert.Equal(["out/log.txt"], RealServer.EntriesOf(await _server.ResultAsync(build.Id)));
        Assert.DoesNotContain(recorder.Calls, c => c.Uri.AbsolutePath.Contains("/artifacts/", StringComparison.Ordinal));
        Assert.Contains("broken\n", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_HostileZip_FailsAtStagingNamingTheEntry()
    {
        // The server refuses such a ZIP at upload (400); the runner must not trust storage either, so the stored
        // source of a queued build is swapped for the hostile ZIP on disk.
        var hostile = RealServer.Zip(TestZip.File("build.sh", "echo hi"), TestZip.File("../../evil.sh", "x"));
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi")));
        var source = _server.Services.GetRequiredService<BlobLayout>().Source(build.ProjectId, build.SourceId);
        await File.WriteAllBytesAsync(_server.BlobPath(source.Container, source.Path), hostile);
        using var recorder = new RecordingHandler();

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token, recorder));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Contains("refused ZIP entry '../../evil.sh'", done.Error, StringComparison.Ordinal);
        Assert.Equal([BuildPhase.Staging, BuildPhase.Publishing], recorder.Phases);
        Assert.NotNull(await _server.ManifestAsync(done));
        Assert.False(File.Exists(_temp.Combine("evil.sh")));
    }

    [Fact]
    public async Task RunAsync_BadYml_FailsAtStagingNamingTheKey()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi"), TestZip.File("autobuilder.yml", "timeout: forever\n")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Contains("autobuilder.yml: timeout 'forever'", done.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_CommandOutlivesTimeout_CompletesTimedOut()
    {
        // The runner's clock is fake: it passes the build's timeout only once the command has been seen running. With a
        // real 1 s timeout a loaded machine could time the command out before it printed "started".
        var time = new FakeTimeProvider();
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo started; sleep 1000"), TestZip.File("autobuilder.yml", "timeout: 1h\n")));

        var run = Run(build, token, time: time);
        // The log shipper sends a batch after LogShipper.MaxBatchDelay on the runner's clock: move it on in such steps
        // (far short of the hour) until the command's first line is stored.
        var guard = DateTime.UtcNow + TestWait.HangGuard;
        while (!(await _server.GetLogAsync(build.Id)).Contains("started\n", StringComparison.Ordinal))
        {
            Assert.False(run.IsCompleted, "the runner ended before the command printed 'started'");
            Assert.True(DateTime.UtcNow < guard, "the command's 'started' never reached the log");
            time.Advance(LogShipper.MaxBatchDelay);
            await Task.Delay(50);
        }

        await TestWait.AdvanceUntilDoneAsync(time, TimeSpan.FromHours(1), run);

        Assert.Equal(RunnerExitCodes.Completed, await run);
        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.TimedOut, done.Status);
        Assert.Equal("build timed out after 1h 0m 0s", done.Error);
    }

    [Fact]
    public async Task RunAsync_YmlTimeoutAboveMaximum_IsCapped()
    {
        await _server.DisposeAsync();
        _server = await RealServer.StartAsync(new Dictionary<string, string?>
        {
            ["Builds:DefaultTimeout"] = "00:00:01",
            ["Builds:MaxTimeout"] = "00:00:01",
        });
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "sleep 1000"), TestZip.File("autobuilder.yml", "timeout: 2h\n")));

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token));

        Assert.Equal(BuildStatus.TimedOut, (await _server.GetBuildAsync(build.Id)).Status);
        Assert.Contains("is capped at the maximum 1s", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_LogStorageFails_CompletesFailedNamingTheStorageFailure()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi")));
        // Break the storage under the build log: a folder where the log file must go, so every append fails in the server.
        var log = _server.Services.GetRequiredService<BlobLayout>().BuildLog(build.ProjectId, build.Number);
        var logPath = _server.BlobPath(log.Container, log.Path);
        Assert.False(File.Exists(logPath));
        Directory.CreateDirectory(logPath);

        Assert.Equal(RunnerExitCodes.Completed, await Run(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Contains("the build log could not be written to storage", done.Error, StringComparison.Ordinal);
        Assert.Equal(BuildOutcome.Failed, (await _server.ManifestAsync(done))!.Status);
    }

    [Fact]
    public async Task RunAsync_StaleAttempt_ServerAnswers409AndTheRunnerStopsWithoutCompleting()
    {
        var (build, staleToken) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi")));
        await _server.RequeueAsync(build.Id);
        await _server.ClaimAsync(build.Id); // attempt 2 is current now

        Assert.Equal(RunnerExitCodes.Stale, await Run(build, staleToken));

        var current = await _server.GetBuildAsync(build.Id);
        Assert.Equal((BuildStatus.Running, 2, BuildPhase.None), (current.Status, current.Attempt, current.Phase));
        Assert.Null(await _server.ManifestAsync(current));
        Assert.DoesNotContain("echo hi", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_CancelledThroughTheApi_HeartbeatAnswers409_KillsTheBuildAndStops()
    {
        // The build runs sandboxed: it can only tell the test through its log, and its pids are its own.
        var marker = "1000." + Random.Shared.Next(100_000, 999_999).ToString(CultureInfo.InvariantCulture);
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", $"sleep {marker} & echo started; wait")));

        var run = Run(build, token, heartbeat: TimeSpan.FromMilliseconds(200));
        await WaitForLogAsync(build.Id, "started");
        // Positive control: the build's own sleep runs (seen from the host) before the cancel, so "none left" below means killed.
        Assert.True(await TestWait.UntilAsync(() => LiveNow(marker).Count > 0), "the build's sleep never ran");

        using (var cancel = await _server.Admin.PostAsync(new Uri(ApiRoutes.CancelBuild(build.Id), UriKind.Relative), null))
        {
            cancel.EnsureSuccessStatusCode();
        }

        Assert.Equal(RunnerExitCodes.Stale, await run);

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Cancelled, done.Status);
        Assert.Null(await _server.ManifestAsync(done));
        Assert.Empty(await LiveProcessesWithAsync(marker));
    }

    [Fact]
    public async Task RunAsync_Cancelled_ReturnsCancelledWithoutCompleting()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo started; sleep 1000")));
        using var cancel = new CancellationTokenSource();

        var run = Run(build, token, cancellationToken: cancel.Token);
        await WaitForLogAsync(build.Id, "started");

        await cancel.CancelAsync();

        Assert.Equal(RunnerExitCodes.Cancelled, await run);
        var current = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Running, current.Status); // never completed: the dispatcher decides what happens next
        Assert.Null(await _server.ManifestAsync(current));
    }

    /// <summary>
    /// Issue 18, finding 2: a workspace swapped for a link to a root-owned folder (with 0600 files in home/ and tmp/).
    /// The runner refuses it; nothing behind the link is deleted, replaced, given to the build user or bound.
    /// </summary>
    [Fact]
    public async Task RunAsync_WorkspaceThatIsALinkToARootFolder_IsRefused_AndNothingBehindItIsTouched()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "cat \"$HOME/secret.key\"; echo PLANTED > \"$HOME/.ssh-authorized\"")));
        var target = _temp.Combine("root-folder");
        var secrets = new[] { _temp.Write("root-folder/home/secret.key", "root only"), _temp.Write("root-folder/tmp/secret.key", "root only") };
        var kept = _temp.Write("root-folder/src/keep.txt", "kept");
        foreach (var secret in secrets)
        {
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Directory.CreateSymbolicLink(_temp.Combine("workspace"), target);

        var exitCode = await Run(build, token);

        Assert.Equal(RunnerExitCodes.InfrastructureFailure, exitCode);
        Assert.Equal("kept", File.ReadAllText(kept));
        Assert.Equal(["home", "src", "tmp"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var path in secrets.Concat([kept, target, Path.GetDirectoryName(secrets[0])!, Path.GetDirectoryName(secrets[1])!]))
        {
            Assert.Equal(0u, AutoBuilder.Runner.Publishing.FileKinds.Stat(path)!.Uid);
        }

        Assert.Equal(0x1ED, AutoBuilder.Runner.Publishing.FileKinds.Stat(target)!.Permissions); // 0755: not chmodded either
        Assert.All(secrets, secret => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret)));
        Assert.DoesNotContain("root only", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_WrongToken_Unauthorized()
    {
        var (build, _) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi")));
        using var http = new HttpClient();
        var runner = new BuildRunner(new RunnerStartInfo(_server.Url, build.Id, "wrong", _temp.Combine("workspace"), null), http);

        Assert.Equal(RunnerExitCodes.Unauthorized, await runner.RunAsync());
        Assert.Equal(BuildPhase.None, (await _server.GetBuildAsync(build.Id)).Phase);
    }

    [Fact]
    public void RunnerStartInfo_ToString_HidesTheToken()
    {
        const string token = "build-token-0123456789abcdef";
        var options = new RunnerStartInfo(new Uri("http://127.0.0.1:1/"), "0192f0c0c0c0c0c0c0c0c0c0c0c0c0c0", token, "/w", null);
        Assert.DoesNotContain(token, options.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Bounded wait until the build's log (as the server stores it) holds <paramref name="text"/>.</summary>
    private async Task WaitForLogAsync(string buildId, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!(await _server.GetLogAsync(buildId)).Contains(text, StringComparison.Ordinal))
        {
            await Task.Delay(50, timeout.Token);
        }
    }

    /// <summary>Host processes (not zombies) whose command line holds <paramref name="marker"/>, once they are gone or the hang guard ran out.</summary>
    private static async Task<List<int>> LiveProcessesWithAsync(string marker)
    {
        await TestWait.UntilAsync(() => LiveNow(marker).Count == 0);
        return LiveNow(marker);
    }

    private static List<int> LiveNow(string marker) =>
        [.. Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(n => int.Parse(n!, CultureInfo.InvariantCulture))
            .Where(pid => IsLiveWith(pid, marker))];

    private static bool IsLiveWith(int pid, string marker)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains(marker, StringComparison.Ordinal)
                   && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [Fact]
    public async Task RunnerApi_CompleteRefusedWith400_IsABuildFailureNamingTheValue_NotARetriedInfrastructureFailure()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "echo hi")));
        using var http = new HttpClient();
        var api = new RunnerApiClient(http, _server.Url, build.Id, token, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        var refused = await Assert.ThrowsAsync<BuildFailureException>(() =>
            api.CompleteAsync(new CompleteRequest { Outcome = BuildOutcome.Succeeded, Version = "1.0.0\n" }));

        Assert.Contains("'1.0.0\\n'", refused.Message, StringComparison.Ordinal);
        // Nothing changed: the attempt is still current, and the failed report the runner sends next is taken once.
        await api.CompleteAsync(new CompleteRequest { Outcome = BuildOutcome.Failed, Error = refused.Message });
        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal((BuildStatus.Failed, 1), (done.Status, done.Attempt));
        Assert.Contains("'1.0.0\\n'", done.Error, StringComparison.Ordinal);
    }

    private async Task<(BuildDto Build, string Token)> QueueAndClaimAsync(byte[] zip)
    {
        var build = await _server.StartBuildAsync("demo", zip);
        Assert.Equal(BuildStatus.Queued, build.Status);
        return (build, await _server.ClaimAsync(build.Id));
    }

    private async Task<int> Run(BuildDto build, string token, HttpMessageHandler? handler = null, TimeSpan? heartbeat = null, CancellationToken cancellationToken = default,
        TimeProvider? time = null)
    {
        using var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        var options = new RunnerStartInfo(_server.Url, build.Id, token, _temp.Combine("workspace"), _temp.Combine("cache"))
        {
            HeartbeatInterval = heartbeat ?? TimeSpan.FromSeconds(30),
        };
        return await new BuildRunner(options, http, timeProvider: time).RunAsync(cancellationToken);
    }
}
