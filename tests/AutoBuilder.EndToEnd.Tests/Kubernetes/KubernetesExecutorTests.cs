using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;
using k8s.Models;

namespace AutoBuilder.EndToEnd.Tests.Kubernetes;

/// <summary>
/// Executor:Kind=Kubernetes against the fake cluster: each build is a Job whose pod runs the real runner with exactly
/// what the Job declares (emptyDir /workspace, build-cache-pvc at /cache, the token Secret), reached over the watch API.
/// </summary>
public sealed class KubernetesExecutorTests(FakeClusterFixture fixture) : IClassFixture<FakeClusterFixture>
{
    /// <summary>A script build that holds in the building phase until the test drops /cache/release-{project}.</summary>
    private static readonly Dictionary<string, string> HeldBuild = new()
    {
        ["build.sh"] = "echo held build started\nwhile [ ! -f /cache/release-$AUTOBUILDER_PROJECT ]; do sleep 0.2; done\nmkdir -p out && echo done > out/done.txt\necho held build released\n",
        ["autobuilder.yml"] = "outputs:\n  - out/**\n",
    };

    [Fact]
    public async Task MavenSample_BuildsInAJobWithTheRealRunner()
    {
        using var client = fixture.Server.CreateClient();
        var project = $"k8s-maven-{Guid.NewGuid():N}"[..24];
        var files = Directory.EnumerateFiles(Path.Combine(TestPaths.Samples, "maven-hello"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}target{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(Path.Combine(TestPaths.Samples, "maven-hello"), f).Replace('\\', '/'), File.ReadAllText);

        var build = await ApiCalls.StartBuildAsync(client, project, files);
        var done = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(5));

        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(done.Status == BuildStatus.Succeeded, $"{done.Status}: {done.Error}\n{log}");
        Assert.Equal(1, done.Attempt);
        Assert.Contains("[INFO] Building", log, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fixture.Server.BlobRoot, "artifacts", project, "1.0.0-SNAPSHOT", "maven-hello-1.0.0-SNAPSHOT.jar")));
        // Maven's repository lives on the shared cache claim, in the project's own folder, not in the throw-away workspace.
        Assert.True(Directory.Exists(Path.Combine(fixture.CacheVolume, "projects", project, "maven", "repository")));

        // One Job, with its token in a Secret the Job owns; the executor followed it with watches.
        var job = Assert.Single(fixture.JobsOf(build.Id));
        Assert.Equal(project, job.Metadata.Labels["autobuilder.dev/project"]);
        // The runner exits right after completing the build; then its Job is Complete.
        await WaitUntilAsync(() => fixture.JobOf(build.Id)?.Status.Conditions?.Any(c => c.Type == "Complete" && c.Status == "True") == true);
        var secret = fixture.Cluster.Get<V1Secret>("secrets", FakeClusterFixture.Namespace, $"{job.Metadata.Name}-token");
        Assert.NotNull(secret);
        Assert.Equal(job.Metadata.Uid, Assert.Single(secret.Metadata.OwnerReferences).Uid);
        Assert.Contains(fixture.Cluster.Requests, r => r.StartsWith("GET /apis/batch/v1/namespaces/auto-builder/jobs?", StringComparison.Ordinal) && r.Contains("watch=true", StringComparison.Ordinal));
        Assert.Contains(fixture.Cluster.Requests, r => r.StartsWith("GET /api/v1/namespaces/auto-builder/pods?", StringComparison.Ordinal) && r.Contains("watch=true", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DispatcherRestartedMidBuild_AdoptsTheRunningJob_BuildFinishesOnce(bool graceful)
    {
        var (api, dispatcher) = await fixture.StartSplitAsync();
        await using var apiProcess = api;
        using var client = api.CreateClient();
        var project = $"k8s-adopt-{Guid.NewGuid():N}"[..24];
        var build = await ApiCalls.StartBuildAsync(client, project, HeldBuild);
        await WaitForBuildingAsync(client, build.Id);

        // The dispatcher dies (SIGKILL) or is stopped (SIGTERM, a rolling update) and a new one starts; the API and
        // the build pod stay up, as in the cluster.
        if (graceful)
        {
            await dispatcher.StopGracefullyAsync();
            Assert.True(fixture.Cluster.Kubelet.IsRunning($"build-{build.Id}-1"), $"a stopping dispatcher stopped the build\n{dispatcher.Output}");
        }
        else
        {
            await dispatcher.KillAsync();
        }

        await dispatcher.DisposeAsync();
        await using var restarted = await fixture.StartDispatcherAsync(api.DataDirectory, api.Url);
        await WaitUntilAsync(() => restarted.Output.Contains($"Adopted build {build.Id} attempt 1", StringComparison.Ordinal));
        Assert.True(fixture.Cluster.Kubelet.IsRunning($"build-{build.Id}-1"), $"the adopted pod was restarted or stopped\n{fixture.Diagnostics()}");
        await File.WriteAllTextAsync(Path.Combine(fixture.CacheVolume, $"release-{project}"), "go");
        var done = await ApiCalls.WaitForEndAsync(client, build.Id);

        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(done.Status == BuildStatus.Succeeded, $"{done.Status}: {done.Error}\n{log}\n{restarted.Output}");
        Assert.Equal(1, done.Attempt);
        Assert.Single(fixture.JobsOf(build.Id));
        Assert.Equal(1, CountOf("held build started", log));
        Assert.Equal(1, CountOf("held build released", log));
    }

    [Fact]
    public async Task Cancel_DeletesTheJobWithForegroundPropagation_AndItsPodAndSecret()
    {
        using var client = fixture.Server.CreateClient();
        var project = $"k8s-cancel-{Guid.NewGuid():N}"[..24];
        var build = await ApiCalls.StartBuildAsync(client, project, HeldBuild);
        await WaitForBuildingAsync(client, build.Id);

        using (var response = await client.PostAsync(ApiRoutes.CancelBuild(build.Id), null))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var done = await ApiCalls.WaitForEndAsync(client, build.Id);
        Assert.Equal(BuildStatus.Cancelled, done.Status);
        var jobName = $"build-{build.Id}-1";
        await WaitUntilAsync(() => fixture.JobOf(build.Id) is null
            && !fixture.Cluster.List<V1Pod>("pods").Any(p => p.Metadata.Name.StartsWith(jobName, StringComparison.Ordinal))
            && fixture.Cluster.Get<V1Secret>("secrets", FakeClusterFixture.Namespace, $"{jobName}-token") is null);
        Assert.False(fixture.Cluster.Kubelet.IsRunning(jobName));
        Assert.Contains(fixture.Cluster.Requests, r => r.StartsWith($"DELETE /apis/batch/v1/namespaces/auto-builder/jobs/{jobName}", StringComparison.Ordinal) && r.Contains("propagationPolicy=Foreground", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("oom", BuildStatus.Failed, "ran out of memory")]
    [InlineData("eviction", BuildStatus.Failed, "more local disk than its limit")]
    [InlineData("deadline", BuildStatus.TimedOut, "deadline (activeDeadlineSeconds")]
    public async Task InjectedFault_EndsTheBuildWithItsStatusAndAClearReason_WithoutRetry(string fault, BuildStatus status, string reason)
    {
        using var client = fixture.Server.CreateClient();
        var project = $"k8s-{fault}-{Guid.NewGuid():N}"[..24];
        var build = await ApiCalls.StartBuildAsync(client, project, HeldBuild);
        await WaitForBuildingAsync(client, build.Id);
        var jobName = $"build-{build.Id}-1";

        await (fault switch
        {
            "oom" => fixture.Cluster.Kubelet.InjectOomKillAsync(jobName),
            "eviction" => fixture.Cluster.Kubelet.InjectEvictionAsync(jobName, "Pod ephemeral local storage usage exceeds the total limit of containers 20Gi. "),
            _ => fixture.Cluster.Kubelet.InjectDeadlineAsync(jobName),
        });
        var done = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.True(done.Status == status, $"{done.Status}: {done.Error}");
        Assert.Contains(reason, done.Error, StringComparison.Ordinal);
        Assert.Equal(1, done.Attempt);
        Assert.Single(fixture.JobsOf(build.Id));
        Assert.Contains(reason, await ApiCalls.GetLogAsync(client, build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunnerImageCannotBePulled_RetriesThenFailsNamingTheImage()
    {
        using var client = fixture.Server.CreateClient();
        var project = $"k8s-pull-{Guid.NewGuid():N}"[..24];
        await ApiCalls.CreateProjectAsync(client, project);
        using var zip = new ByteArrayContent(ApiCalls.Zip(ApiCalls.QuickBuild));
        zip.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        using var uploaded = await client.PostAsync(ApiRoutes.Sources(project), zip);
        uploaded.EnsureSuccessStatusCode();
        var source = (await uploaded.Content.ReadFromJsonAsync<SourceDto>(AutoBuilderJson.Options))!;
        using var started = await client.PostAsJsonAsync(ApiRoutes.ProjectBuilds(project), new CreateBuildRequest(source.Id, Toolchain: "gradle"), AutoBuilderJson.Options);
        var build = (await started.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;

        var done = await ApiCalls.WaitForEndAsync(client, build.Id);

        Assert.Equal(BuildStatus.Failed, done.Status);
        Assert.Contains($"the runner image '{FakeClusterFixture.MissingImage}' could not be pulled", done.Error, StringComparison.Ordinal);
        Assert.Contains("gave up after 2 attempts", done.Error, StringComparison.Ordinal);
        // Each attempt's stuck Job was deleted, not left pending.
        foreach (var attempt in new[] { 1, 2 })
        {
            Assert.Contains(fixture.Cluster.Requests, r => r.StartsWith($"DELETE /apis/batch/v1/namespaces/auto-builder/jobs/build-{build.Id}-{attempt}", StringComparison.Ordinal));
        }
    }

    /// <summary>The build's command runs in its pod (bounded; a failure shows what the cluster saw).</summary>
    private async Task WaitForBuildingAsync(HttpClient client, string buildId)
    {
        try
        {
            if (!(await ApiCalls.WaitForAsync(client, buildId, b => b.Phase == BuildPhase.Building || b.Status.IsTerminal())).Status.IsTerminal())
            {
                await fixture.WaitForRunningPodAsync(buildId);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"build {buildId} did not start building\n{fixture.Diagnostics()}");
        }

        var build = await ApiCalls.GetBuildAsync(client, buildId);
        Assert.False(build.Status.IsTerminal(), $"{build.Status}: {build.Error}\n{fixture.Diagnostics()}");
    }

    private static int CountOf(string text, string log) => log.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!condition())
        {
            await Task.Delay(100, timeout.Token);
        }
    }
}
