using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>The dispatcher under load and across a crash.</summary>
public sealed class SchedulingTests
{
    private static readonly Dictionary<string, string> SleepingBuild = new()
    {
        ["build.sh"] = "echo working\nsleep 1\nmkdir -p out && echo done > out/done.txt\n",
        ["autobuilder.yml"] = "outputs:\n  - out/**\n",
    };

    [Fact]
    public async Task TwentyBuilds_WithLimitFour_AllSucceedAndNeverMoreThanFourRun()
    {
        var root = TestPaths.NewTempDirectory("limit");
        var data = Path.Combine(root, "data");
        await using var server = await ServerProcess.StartAsync(data, new Dictionary<string, string> { ["Dispatcher:MaxConcurrentBuilds"] = "4", ["Caches:Mode"] = "Shared" });
        using var client = server.CreateClient();
        // Each build waits for a file in its project's shared cache folder (the one host folder a sandboxed build sees), so
        // "four ran at once" does not hang on how quickly twenty uploads and one-second sleeps happen to overlap.
        var held = new Dictionary<string, string>(SleepingBuild)
        {
            ["build.sh"] = "echo working\nwhile [ ! -e \"$AUTOBUILDER_CACHE/release\" ]; do sleep 0.1; done\nmkdir -p out && echo done > out/done.txt\n",
        };

        var builds = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => ApiCalls.StartBuildAsync(client, $"limit-{i}", held)));
        using (var guard = new CancellationTokenSource(TimeSpan.FromMinutes(4))) // hang guard
        {
            while ((await Task.WhenAll(builds.Select(b => ApiCalls.GetBuildAsync(client, b.Id)))).Count(b => b.Status == BuildStatus.Running) < 4)
            {
                await Task.Delay(200, guard.Token);
            }
        }

        // Four hold their slots and cannot end: none of the other sixteen may start.
        var holding = await Task.WhenAll(builds.Select(b => ApiCalls.GetBuildAsync(client, b.Id)));
        Assert.Equal(4, holding.Count(b => b.Status == BuildStatus.Running));
        Assert.Equal(16, holding.Count(b => b.Status == BuildStatus.Queued));
        for (var i = 0; i < 20; i++)
        {
            var cache = Directory.CreateDirectory(Path.Combine(data, "cache", "projects", $"limit-{i}")).FullName;
            await File.WriteAllTextAsync(Path.Combine(cache, "release"), "");
        }

        var ended = await Task.WhenAll(builds.Select(b => ApiCalls.WaitForEndAsync(client, b.Id)));

        Assert.All(ended, b => Assert.Equal(BuildStatus.Succeeded, b.Status));
        // Running intervals (claim to completion) as the server recorded them: at most four overlap, and four did.
        var events = ended.SelectMany(b => new[] { (at: b.StartedAt!.Value, delta: 1), (at: b.FinishedAt!.Value, delta: -1) })
            .OrderBy(e => e.at).ThenBy(e => e.delta);
        int running = 0, peak = 0;
        foreach (var e in events)
        {
            running += e.delta;
            peak = Math.Max(peak, running);
        }

        Assert.Equal(4, peak);
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task ServerKilled_WhileBuildsRun_EveryBuildEndsAfterRestart()
    {
        var root = TestPaths.NewTempDirectory("crash");
        var data = Path.Combine(root, "data");
        var settings = new Dictionary<string, string> { ["Dispatcher:MaxConcurrentBuilds"] = "2" };
        List<BuildDto> accepted;
        await using (var first = await ServerProcess.StartAsync(data, settings))
        {
            using var client = first.CreateClient();
            accepted = [.. await Task.WhenAll(Enumerable.Range(0, 5).Select(i => ApiCalls.StartBuildAsync(client, $"crash-{i}", new Dictionary<string, string>
            {
                ["build.sh"] = "echo working\nsleep 3\n",
            })))];
            await ApiCalls.WaitForAsync(client, accepted[0].Id, b => b.Phase == BuildPhase.Building);
            await first.KillAsync();
        }

        await using var second = await ServerProcess.StartAsync(data, settings);
        using var again = second.CreateClient();
        var ended = await Task.WhenAll(accepted.Select(b => ApiCalls.WaitForEndAsync(again, b.Id)));

        // Nothing accepted is lost; the interrupted builds were retried and succeeded.
        Assert.Equal(accepted.Select(b => b.Id).Order(), ended.Select(b => b.Id).Order());
        Assert.All(ended, b => Assert.Equal(BuildStatus.Succeeded, b.Status));
        Assert.Contains(ended, b => b.Attempt >= 2);
        var log = await ApiCalls.GetLogAsync(again, accepted[0].Id);
        Assert.Contains("retrying", log, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task Queue_OneUserWithManyBuilds_DoesNotStarveAnother()
    {
        var root = TestPaths.NewTempDirectory("fair");
        await using var server = await ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string> { ["Dispatcher:MaxConcurrentBuilds"] = "1" });
        using var admin = server.CreateClient();
        var busy = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => ApiCalls.StartBuildAsync(admin, $"busy-{i}", SleepingBuild)));
        using var created = await admin.PostAsync(ApiRoutes.UserKeys("alice"), null);
        var key = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<ApiKeyCreated>(created.Content, AutoBuilder.Core.AutoBuilderJson.Options))!;
        using var alice = server.CreateClient(key.Key);
        var hers = await ApiCalls.StartBuildAsync(alice, "alices", SleepingBuild);

        var ended = await Task.WhenAll(busy.Append(hers).Select(b => ApiCalls.WaitForEndAsync(admin, b.Id)));

        Assert.All(ended, b => Assert.Equal(BuildStatus.Succeeded, b.Status));
        var order = ended.OrderBy(b => b.StartedAt).Select(b => b.ProjectId).ToList();
        // Queued after all four of the admin's builds, hers runs as soon as the first of them is done.
        Assert.True(order.IndexOf("alices") <= 1, string.Join(", ", order));
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task Serve_BadConfiguration_FailsAtStartNamingTheKey()
    {
        var root = TestPaths.NewTempDirectory("badconfig");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            ServerProcess.StartAsync(Path.Combine(root, "data"), new Dictionary<string, string> { ["Dispatcher:MaxConcurrentBuilds"] = "0" }));

        Assert.Contains("MaxConcurrentBuilds", error.Message, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }
}
