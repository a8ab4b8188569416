using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Issue 14's acceptance: many builds with dependencies started at once on an empty data folder all succeed. With the
/// old shared folder, Maven 3.8's unlocked repository lost `.part` files under ten concurrent builds; with keyed caches
/// every build resolves into its own local folder, and the builds of one project race only to create its one archive.
/// </summary>
public sealed class KeyedCacheConcurrencyTests
{
    [Theory]
    [InlineData("maven-hello", 10, 2)] // 20 Maven builds
    [InlineData("gradle-hello", 5, 2)] // 10 Gradle builds
    public async Task ManyBuildsAtOnce_OnAnEmptyDataFolder_AllSucceed_AndEachProjectKeepsOneArchive(string sample, int projects, int buildsPerProject)
    {
        var root = TestPaths.NewTempDirectory("keyed-many");
        var data = Path.Combine(root, "data");
        var files = KeyedCacheTests.SampleFiles(sample);
        var toolchain = sample.Split('-')[0];
        var names = Enumerable.Range(0, projects).Select(i => $"many-{toolchain}-{i}").ToList();
        await using var server = await ServerProcess.StartAsync(data, new Dictionary<string, string>
        {
            ["Dispatcher:MaxConcurrentBuilds"] = "10",
            ["Dispatcher:MaxConcurrentBuildsPerUser"] = "10",
        });
        using var client = server.CreateClient();

        var started = await Task.WhenAll(names.SelectMany(p => Enumerable.Repeat(p, buildsPerProject)).Select(p => ApiCalls.StartBuildAsync(client, p, files)));
        var ended = await Task.WhenAll(started.Select(b => ApiCalls.WaitForEndAsync(client, b.Id, TimeSpan.FromMinutes(15))));

        foreach (var build in ended)
        {
            Assert.True(build.Status == BuildStatus.Succeeded, $"{build.ProjectId} #{build.Number}: {build.Status}\n{await ApiCalls.GetLogAsync(client, build.Id)}");
        }

        foreach (var project in names)
        {
            // The builds of a project raced for one key: exactly one complete archive, whoever won.
            var archives = Directory.GetFiles(Path.Combine(data, "blobs", "cache", project, toolchain), "*.tar.zst");
            var archive = Assert.Single(archives);
            // The catalog names that archive: the SHA-256 it registered is the blob's own, size too.
            var registered = Assert.Single((await client.GetFromJsonAsync<CacheListDto>($"/api/v1/projects/{project}/caches", AutoBuilderJson.Options))!.Caches);
            Assert.Equal(KeyedCacheTests.Sha256Of(await File.ReadAllBytesAsync(archive)), registered.Sha256);
            Assert.Equal(new FileInfo(archive).Length, registered.Size);
            var logs = await Task.WhenAll(ended.Where(b => b.ProjectId == project).Select(b => ApiCalls.GetLogAsync(client, b.Id)));
            Assert.Single(logs, l => l.Contains("cache: saved ", StringComparison.Ordinal));
        }

        Directory.Delete(root, recursive: true);
    }
}
