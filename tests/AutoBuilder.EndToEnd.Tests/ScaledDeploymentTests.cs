using System.Net;
using System.Text.RegularExpressions;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Two API and two dispatcher processes on one PostgreSQL and Azurite: the production stack (see <see cref="AzureScaledDeploymentFixture"/>).</summary>
[Collection(ProductionStackCollection.Name)]
public sealed partial class ScaledDeploymentTests(AzureScaledDeploymentFixture deployment)
{
    [Fact]
    public async Task FiftyBuilds_SubmittedToBothApis_EachRunsExactlyOnce_AndSucceeds()
    {
        var clients = deployment.Apis.Select(deployment.Client).ToList();
        using var throttle = new SemaphoreSlim(10);
        var started = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            await throttle.WaitAsync();
            try
            {
                // Five projects, their builds submitted alternately to both APIs: build numbers race across processes too.
                var files = new Dictionary<string, string>(ApiCalls.QuickBuild) { ["build.sh"] = $"echo \"ran marker-{i}\"\n" + ApiCalls.QuickBuild["build.sh"] };
                return (i, build: await ApiCalls.StartBuildAsync(clients[i % 2], $"scaled-{i % 5}", files));
            }
            finally
            {
                throttle.Release();
            }
        }));

        var ended = await Task.WhenAll(started.Select(async s => (s.i, build: await ApiCalls.WaitForEndAsync(clients[(s.i + 1) % 2], s.build.Id, TimeSpan.FromMinutes(15)))));

        Assert.All(ended, e => Assert.Equal((BuildStatus.Succeeded, 1), (e.build.Status, e.build.Attempt)));
        foreach (var project in ended.GroupBy(e => e.build.ProjectId))
        {
            Assert.Equal(Enumerable.Range(1, 10), project.Select(e => e.build.Number).Order());
        }

        foreach (var (i, build) in ended)
        {
            var log = await ApiCalls.GetLogAsync(clients[i % 2], build.Id);
            Assert.Equal(1, Regex.Count(log, $"ran marker-{i}\\b"));
            Assert.DoesNotContain("retrying", log, StringComparison.Ordinal);
            using var artifacts = await ApiCalls.GetPolitelyAsync(clients[(i + 1) % 2], ApiRoutes.BuildArtifacts(build.Id));
            Assert.Contains("app.txt", await artifacts.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Each build was started by exactly one dispatcher, once; and both dispatchers took a share.
        var startsPerDispatcher = deployment.Dispatchers.Select(d => StartedBuild().Matches(d.Output).Select(m => m.Groups["id"].Value).ToList()).ToList();
        var allStarts = startsPerDispatcher.SelectMany(s => s).Where(id => ended.Any(e => e.build.Id == id)).ToList();
        Assert.Equal(ended.Select(e => e.build.Id).Order(StringComparer.Ordinal), allStarts.Order(StringComparer.Ordinal));
        Assert.All(startsPerDispatcher, starts => Assert.NotEmpty(starts));
    }

    [Fact]
    public async Task Cancel_SentToOneApi_StopsTheBuild_RunningUnderADispatcherProcess()
    {
        using var submitter = deployment.Client(deployment.Apis[0]);
        using var canceller = deployment.Client(deployment.Apis[1]);
        var build = await ApiCalls.StartBuildAsync(submitter, "scaled-cancel", new Dictionary<string, string>
        {
            ["build.sh"] = "echo started\nfor i in $(seq 1 600); do echo tick $i; sleep 1; done\n",
        });
        // Positive control: ticks reach the stored log while the build runs (so a build still running after the cancel would show).
        await WaitForLogAsync(canceller, build.Id, "tick 3\n");

        using (var cancel = await canceller.PostAsync(ApiRoutes.CancelBuild(build.Id), null))
        {
            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        }

        var ended = await ApiCalls.WaitForEndAsync(submitter, build.Id);
        Assert.Equal(BuildStatus.Cancelled, ended.Status);
        // The dispatcher running it saw the cancel in the database and stopped the runner: nothing runs any more.
        foreach (var dispatcher in deployment.Dispatchers)
        {
            await WaitForMetricAsync(dispatcher, "autobuilder_builds_running", "0");
        }

        var runner = deployment.Dispatchers.Single(d => d.Output.Contains($"Started build {build.Id}", StringComparison.Ordinal));
        Assert.NotNull(runner);
        // The script ticks once a second: a build that still ran would add ticks over the next ten seconds. (Before,
        // the test looked for "tick 600", which a 600 s script cannot print within the 4 minutes the test waits.)
        var lastTick = LastTick(await ApiCalls.GetLogAsync(submitter, build.Id));
        Assert.True(lastTick >= 3, $"last tick {lastTick}");
        await Task.Delay(TimeSpan.FromSeconds(10));
        Assert.Equal(lastTick, LastTick(await ApiCalls.GetLogAsync(submitter, build.Id)));
    }

    private static int LastTick(string log) => Tick().Matches(log).Select(m => int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    [Fact]
    public async Task EveryRole_AnswersHealthReadinessAndMetrics_AndServesOnlyItsOwnEndpoints()
    {
        foreach (var process in deployment.All)
        {
            using var client = deployment.Client(process);
            Assert.Equal("ok\n", await client.GetStringAsync("/healthz"));
            Assert.Equal("ready\n", await client.GetStringAsync("/readyz"));
            using var metrics = await client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        foreach (var dispatcher in deployment.Dispatchers)
        {
            using var client = deployment.Client(dispatcher);
            using var api = await client.GetAsync("api/v1/projects");
            Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        }
    }

    [Fact]
    public async Task BootstrapAdminKey_IsTheAdminKeyOnEveryApi_AndNoKeyFileIsWritten()
    {
        foreach (var api in deployment.Apis)
        {
            using var client = deployment.Client(api);
            using var keys = await client.GetAsync("api/v1/keys");
            Assert.Equal(HttpStatusCode.OK, keys.StatusCode);
            Assert.Contains("\"admin\"", await keys.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.False(File.Exists(Path.Combine(deployment.DataDirectory, "admin.key")));
    }

    private static async Task WaitForLogAsync(HttpClient client, string buildId, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (!(await ApiCalls.GetLogAsync(client, buildId)).Contains(text, StringComparison.Ordinal))
        {
            await Task.Delay(100, timeout.Token);
        }
    }

    private static async Task WaitForMetricAsync(ServerProcess process, string name, string value)
    {
        using var client = new HttpClient { BaseAddress = process.Url };
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        // Prometheus text: name{labels} value [timestamp]
        static string? ValueOf(string line, string name) =>
            line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is '{' or ' '
                ? line[(line.LastIndexOf('}') is var brace and >= 0 ? brace + 1 : name.Length)..].Trim().Split(' ')[0]
                : null;
        while (!(await client.GetStringAsync("/metrics")).Split('\n').Any(line => ValueOf(line, name) == value))
        {
            await Task.Delay(200, timeout.Token);
        }
    }

    [GeneratedRegex("^tick (?<n>[0-9]+)$", RegexOptions.Multiline)]
    private static partial Regex Tick();

    [GeneratedRegex("Started build (?<id>[0-9a-f]{32}) ")]
    private static partial Regex StartedBuild();
}
