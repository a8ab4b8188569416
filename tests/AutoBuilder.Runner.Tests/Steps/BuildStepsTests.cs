using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Api;
using AutoBuilder.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoBuilder.Runner.Tests.Steps;

/// <summary>
/// autobuilder.yml's steps end to end: the real <see cref="BuildRunner"/> running real commands, against the real server,
/// whose API is read back the way a user reads it.
/// </summary>
public sealed class BuildStepsTests : IAsyncLifetime
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
    public async Task RunAsync_ThreeSteps_ApiShowsEachSucceededWithExitCodeAndDuration_LogHasTheSectionsInOrder()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(
            TestZip.File("autobuilder.yml", """
                toolchain: script
                steps:
                  - name: compile
                    run: mkdir -p out && echo compiled > out/a.txt && echo compile-output
                  - name: test "unit"
                    run: |
                      test -f out/a.txt
                      echo test-output
                  - name: package
                    run: echo package-output
                outputs: [out/**]
                """)));

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.Equal("steps: compile, test \"unit\", package", done.Command);
        Assert.Equal(["compile", "test \"unit\"", "package"], done.Steps.Select(s => s.Name));
        Assert.All(done.Steps, s =>
        {
            Assert.Equal((StepStatus.Succeeded, 0), (s.Status, s.ExitCode));
            Assert.NotNull(s.StartedAt);
            Assert.InRange(s.DurationSeconds!.Value, 0, done.Durations.Build!.Value);
        });
        Assert.True(done.Steps[0].StartedAt <= done.Steps[1].StartedAt && done.Steps[1].StartedAt <= done.Steps[2].StartedAt);
        var manifest = (await _server.ManifestAsync(done))!;
        Assert.Equal(done.Steps.Select(s => (s.Name, s.Status, s.ExitCode, s.DurationSeconds)), manifest.Steps.Select(s => (s.Name, s.Status, s.ExitCode, s.DurationSeconds)));

        var log = await _server.GetLogAsync(build.Id);
        Assert.Equal(
        [
            (SectionKind.Started, 0, "compile"), (SectionKind.Ended, 0, "compile"),
            (SectionKind.Started, 1, "test \"unit\""), (SectionKind.Ended, 1, "test \"unit\""),
            (SectionKind.Started, 2, "package"), (SectionKind.Ended, 2, "package"),
        ], Sections(log).Select(s => (s.Kind, s.Index, s.Name)));
        Assert.All(Sections(log), s => Assert.Equal(3, s.Count));
        Assert.Contains("[autobuilder] step 2/3 \"test \\\"unit\\\"\" started\n", log, StringComparison.Ordinal);
        Assert.Matches("""\[autobuilder\] step 1/3 "compile" ended: succeeded in [0-9]+\.[0-9] s \(exit 0\)\n""", log);
        // Each step's output sits inside its own section.
        Assert.True(log.IndexOf("step 1/3 \"compile\" started", StringComparison.Ordinal) < log.IndexOf("compile-output", StringComparison.Ordinal));
        Assert.True(log.IndexOf("compile-output", StringComparison.Ordinal) < log.IndexOf("step 1/3 \"compile\" ended", StringComparison.Ordinal));
        Assert.True(log.IndexOf("step 3/3 \"package\" started", StringComparison.Ordinal) < log.IndexOf("package-output\n", StringComparison.Ordinal));
        Assert.Contains("[autobuilder] $ test -f out/a.txt\n[autobuilder] $ echo test-output\n", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SecondStepFails_BuildFailed_ThirdStepNeverRunsAndIsSkipped()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(
            TestZip.File("autobuilder.yml", """
                toolchain: script
                steps:
                  - name: first
                    run: touch first-ran; echo FIRST-$((1+1))-RAN
                  - name: second
                    run: echo broken; exit 7
                  - name: third
                    run: touch third-ran; echo THIRD-$((1+1))-RAN
                """)));

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Equal(7, done.ExitCode);
        Assert.Equal("step 2/3 'second' exited with code 7", done.Error);
        Assert.Equal(
            [("first", StepStatus.Succeeded, (int?)0), ("second", StepStatus.Failed, 7), ("third", StepStatus.Skipped, null)],
            done.Steps.Select(s => (s.Name, s.Status, s.ExitCode)));
        Assert.Null(done.Steps[2].StartedAt);
        Assert.Null(done.Steps[2].DurationSeconds);

        // The third step's file and output never appear; the first step's (positive control) do.
        var log = await _server.GetLogAsync(build.Id);
        Assert.True(File.Exists(_temp.Combine("workspace", "src", "first-ran")));
        Assert.Contains("FIRST-2-RAN\n", log, StringComparison.Ordinal);
        Assert.False(File.Exists(_temp.Combine("workspace", "src", "third-ran")));
        Assert.DoesNotContain("THIRD-2-RAN", log, StringComparison.Ordinal);
        Assert.Equal(
            [(SectionKind.Started, 0, StepStatus.Running), (SectionKind.Ended, 0, StepStatus.Succeeded), (SectionKind.Started, 1, StepStatus.Running),
             (SectionKind.Ended, 1, StepStatus.Failed), (SectionKind.Skipped, 2, StepStatus.Skipped)],
            Sections(log).Select(s => (s.Kind, s.Index, s.Status)));
        Assert.Equal(7, Sections(log)[3].ExitCode);
    }

    [Fact]
    public async Task RunAsync_StepOutlivesItsOwnTimeout_StepAndBuildTimedOut_RestSkipped()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(
            TestZip.File("autobuilder.yml", """
                toolchain: script
                timeout: 1h
                steps:
                  - {name: quick, run: "true"}
                  - {name: hang, run: sleep 1000, timeout: 1s}
                  - {name: never, run: "true"}
                """)));

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.TimedOut, done.Status);
        Assert.Equal("step 2/3 'hang' timed out after 1s", done.Error);
        Assert.Equal([StepStatus.Succeeded, StepStatus.TimedOut, StepStatus.Skipped], done.Steps.Select(s => s.Status));
        Assert.Null(done.Steps[1].ExitCode);
        Assert.InRange(done.Steps[1].DurationSeconds!.Value, 1, 60);
        Assert.Contains("[autobuilder] step 2/3 \"hang\" ended: timedout in ", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SingleCommand_IsOneStepNamedBuild()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "printf 'no newline at the end'")));

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.Equal("sh build.sh", done.Command);
        var step = Assert.Single(done.Steps);
        Assert.Equal(("build", StepStatus.Succeeded, (int?)0), (step.Name, step.Status, step.ExitCode));
        var log = await _server.GetLogAsync(build.Id);
        Assert.Contains("[autobuilder] step 1/1 \"build\" started\nno newline at the end\n[autobuilder] step 1/1 \"build\" ended: succeeded in ", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_WhileAStepRuns_TheApiShowsItRunning_TheEarlierSucceeded_TheLaterPending()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(
            TestZip.File("autobuilder.yml", """
                toolchain: script
                steps:
                  - {name: prepare, run: "true"}
                  - {name: wait, run: "while [ ! -e go ]; do sleep 0.05; done", timeout: 5m}
                  - {name: finish, run: "true"}
                """)));

        var run = RunAsync(build, token);
        BuildDto? seen = null;
        Assert.True(await WaitUntilAsync(async () =>
        {
            seen = await _server.GetBuildAsync(build.Id);
            return seen.Steps is [_, { Status: StepStatus.Running }, _] || run.IsCompleted;
        }), "the waiting step was never shown running");
        Assert.Equal([StepStatus.Succeeded, StepStatus.Running, StepStatus.Pending], seen!.Steps.Select(s => s.Status));
        Assert.NotNull(seen.Steps[1].StartedAt);
        Assert.Null(seen.Steps[1].DurationSeconds);
        Assert.Equal((BuildStatus.Running, BuildPhase.Building), (seen.Status, seen.Phase));

        await File.WriteAllTextAsync(_temp.Combine("workspace", "src", "go"), "");

        Assert.Equal(RunnerExitCodes.Completed, await run);
        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.All(done.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
    }

    [Fact]
    public async Task StepsReport_StaleAttempt_Refused409_ANewAttemptStartsWithoutTheOldSteps()
    {
        var (build, firstToken) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "true")));
        var first = Client(build, firstToken);
        await first.ReportStepsAsync([new BuildStep("a", StepStatus.Running, StartedAt: DateTimeOffset.UtcNow), new BuildStep("b", StepStatus.Pending)]);
        Assert.Equal([StepStatus.Running, StepStatus.Pending], (await _server.GetBuildAsync(build.Id)).Steps.Select(s => s.Status));

        await _server.RequeueAsync(build.Id);
        Assert.Empty((await _server.GetBuildAsync(build.Id)).Steps);
        var second = Client(build, await _server.ClaimAsync(build.Id));

        var stale = await Assert.ThrowsAsync<RunnerStoppedException>(() => first.ReportStepsAsync([new BuildStep("a", StepStatus.Succeeded, 0)]));
        Assert.Equal(RunnerExitCodes.Stale, stale.ExitCode);
        Assert.Empty((await _server.GetBuildAsync(build.Id)).Steps);

        await second.ReportStepsAsync([new BuildStep("x", StepStatus.Running)]);
        Assert.Equal(["x"], (await _server.GetBuildAsync(build.Id)).Steps.Select(s => s.Name));
    }

    [Fact]
    public async Task StepsReport_InvalidNames_Refused400()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "true")));
        var api = Client(build, token);

        var duplicate = await Assert.ThrowsAsync<BuildFailureException>(() => api.ReportStepsAsync([new BuildStep("a", StepStatus.Running), new BuildStep("A", StepStatus.Pending)]));
        Assert.Contains("used twice", duplicate.Message, StringComparison.Ordinal);
        var control = await Assert.ThrowsAsync<BuildFailureException>(() => api.ReportStepsAsync([new BuildStep("a\nb", StepStatus.Running)]));
        Assert.Contains("'a\\nb' is not valid", control.Message, StringComparison.Ordinal);
        Assert.Empty((await _server.GetBuildAsync(build.Id)).Steps);
    }

    [Fact]
    public async Task Cancel_WhileAStepRuns_TheRunningStepIsCancelled_TheRestSkipped()
    {
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "true")));
        await Client(build, token).ReportStepsAsync(
            [new BuildStep("a", StepStatus.Succeeded, 0, DateTimeOffset.UtcNow, 1), new BuildStep("b", StepStatus.Running, StartedAt: DateTimeOffset.UtcNow), new BuildStep("c", StepStatus.Pending)]);

        using (var cancel = await _server.Admin.PostAsync(new Uri(ApiRoutes.CancelBuild(build.Id), UriKind.Relative), null))
        {
            cancel.EnsureSuccessStatusCode();
        }

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Cancelled, done.Status);
        Assert.Equal([StepStatus.Succeeded, StepStatus.Cancelled, StepStatus.Skipped], done.Steps.Select(s => s.Status));
    }

    /// <summary>The README's steps example builds as it says, and its log excerpt is in the format the runner writes.</summary>
    [Fact]
    public async Task RunAsync_ReadmeStepsExample_BuildsAsDocumented()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(Samples.Directory("script-hello"))!, "..", "README.md"));
        var yaml = Block(readme, "```yaml\n  steps:");
        var (build, token) = await QueueAndClaimAsync(RealServer.Zip(TestZip.File("build.sh", "exit 99"), TestZip.File("autobuilder.yml", yaml)));

        Assert.Equal(RunnerExitCodes.Completed, await RunAsync(build, token));

        var done = await _server.GetBuildAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.Equal([("compile", StepStatus.Succeeded), ("test", StepStatus.Succeeded), ("package", StepStatus.Succeeded)], done.Steps.Select(s => (s.Name, s.Status)));
        var excerpt = Block(readme, "```text\n  [autobuilder] step").Split('\n').Where(l => l.StartsWith("[autobuilder] step", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, excerpt.Count);
        Assert.All(excerpt, line => Assert.NotNull(BuildSteps.ParseLine(line)));
    }

    /// <summary>The fenced block that starts with <paramref name="opening"/>, unindented.</summary>
    private static string Block(string markdown, string opening)
    {
        var start = markdown.IndexOf(opening, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no block starting {opening}");
        var body = markdown[(markdown.IndexOf('\n', start) + 1)..];
        body = body[..body.IndexOf("```", StringComparison.Ordinal)];
        return string.Join('\n', body.Split('\n').Select(l => l.StartsWith("  ", StringComparison.Ordinal) ? l[2..] : l));
    }

    private static List<SectionLine> Sections(string log) =>
        [.. log.Split('\n').Select(BuildSteps.ParseLine).OfType<SectionLine>()];

    private RunnerApiClient Client(BuildDto build, string token) =>
        new(new HttpClient(), _server.Url, build.Id, token, NullLogger.Instance);

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TestWait.HangGuard;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    private async Task<(BuildDto Build, string Token)> QueueAndClaimAsync(byte[] zip)
    {
        var build = await _server.StartBuildAsync("steps", zip);
        return (build, await _server.ClaimAsync(build.Id));
    }

    private async Task<int> RunAsync(BuildDto build, string token)
    {
        using var http = new HttpClient();
        var options = new RunnerStartInfo(_server.Url, build.Id, token, _temp.Combine("workspace"), _temp.Combine("cache"));
        return await new BuildRunner(options, http).RunAsync();
    }
}
