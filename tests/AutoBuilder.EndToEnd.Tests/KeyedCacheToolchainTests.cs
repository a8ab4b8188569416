using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// Each toolchain's keyed cache, shown by a real build: a first build downloads its dependencies from the registry and
/// saves its cache; then, on the same data folder with builds cut off from every network (Sandbox:Network=None) and the
/// machine's read-only copies deleted, a second build of the project succeeds: its dependencies came from the blob store.
/// (Maven's is KeyedCacheTests.MavenBuild_WithTheMirrorDeadAndNoLocalCache_SucceedsFromTheSavedArchive.)
/// </summary>
public sealed class KeyedCacheToolchainTests
{
    [Theory]
    [InlineData("npm-hello", "npm")]
    [InlineData("dotnet-hello", "dotnet")]
    [InlineData("gradle-hello", "gradle")]
    public async Task SecondBuild_WithNoNetwork_BuildsFromTheSavedCache(string sample, string toolchain)
    {
        var root = TestPaths.NewTempDirectory("keyed-toolchain");
        var data = Path.Combine(root, "data");
        var project = $"kt-{sample}-{Guid.NewGuid():N}"[..24];
        var files = KeyedCacheTests.SampleFiles(sample);
        // Built twice as one project: a snapshot version may be published again (a release's artifact may not change).
        files["autobuilder.yml"] = (files.GetValueOrDefault("autobuilder.yml") ?? "") + "version: 1.0.0-SNAPSHOT\n";
        string key;
        await using (var online = await ServerProcess.StartAsync(data))
        {
            using var client = online.CreateClient();
            var first = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(5));
            var log = await ApiCalls.GetLogAsync(client, first.Id);
            Assert.True(first.Status == BuildStatus.Succeeded, log);
            key = KeyedCacheTests.KeyIn(log, "cache: saved ");
            Assert.StartsWith(toolchain + "-", key, StringComparison.Ordinal);
        }

        Directory.Delete(Path.Combine(data, "cache"), recursive: true); // this machine's copies go too
        await using (var offline = await ServerProcess.StartAsync(data, new Dictionary<string, string> { ["Sandbox:Network"] = "None" }))
        {
            using var client = offline.CreateClient();
            var second = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(5));
            var log = await ApiCalls.GetLogAsync(client, second.Id);
            Assert.True(second.Status == BuildStatus.Succeeded, log);
            Assert.Contains("sandbox: bubblewrap, no network", log, StringComparison.Ordinal);
            Assert.Contains($"cache: restored {key} (exact), ", log, StringComparison.Ordinal);
        }

        Directory.Delete(root, recursive: true);
    }
}
