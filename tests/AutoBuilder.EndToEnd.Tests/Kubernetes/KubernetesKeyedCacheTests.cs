using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.EndToEnd.Tests.Infrastructure.FakeKubernetes;

namespace AutoBuilder.EndToEnd.Tests.Kubernetes;

/// <summary>
/// Keyed caches through the Kubernetes executor (the default, Caches:Mode=Keyed, no cache claim): build pods mount no
/// shared volume; the first build's cache is saved to the blob store from its pod, and the next build's pod restores it
/// into its own emptyDir.
/// </summary>
public sealed class KubernetesKeyedCacheTests(FakeClusterFixture fixture) : IClassFixture<FakeClusterFixture>
{
    [Fact]
    public async Task SecondBuild_RestoresTheFirstBuildsArchive_IntoItsOwnPod_WithNoSharedVolume()
    {
        var settings = new Dictionary<string, string>(fixture.Settings) { ["Caches:Mode"] = "Keyed" };
        settings.Remove("Kubernetes:CacheClaimName");
        settings.Remove("Toolchains:Maven:SettingsFile");
        var data = TestPaths.NewTempDirectory("k8s-keyed");
        await using var server = await ServerProcess.StartAsync(data, settings);
        using var client = server.CreateClient();
        var project = $"k8s-keyed-{Guid.NewGuid():N}"[..24];
        var files = KeyedCacheTests.ScriptProject();

        var first = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var firstLog = await ApiCalls.GetLogAsync(client, first.Id);
        Assert.True(first.Status == BuildStatus.Succeeded, firstLog + fixture.Diagnostics());
        Assert.Contains("DEPS-DOWNLOADED", firstLog, StringComparison.Ordinal);
        var key = KeyedCacheTests.KeyIn(firstLog, "cache: saved ");

        var second = await ApiCalls.WaitForEndAsync(client, (await ApiCalls.StartBuildAsync(client, project, files)).Id, TimeSpan.FromMinutes(3));
        var secondLog = await ApiCalls.GetLogAsync(client, second.Id);
        Assert.True(second.Status == BuildStatus.Succeeded, secondLog + fixture.Diagnostics());
        Assert.Contains($"cache: restored {key} (exact), 1 files, ", secondLog, StringComparison.Ordinal);
        Assert.Contains("DEPS-FROM-CACHE", secondLog, StringComparison.Ordinal);

        foreach (var build in new[] { first, second })
        {
            var pod = Assert.Single(fixture.JobsOf(build.Id)).Spec.Template.Spec;
            Assert.DoesNotContain(pod.Volumes, v => v.PersistentVolumeClaim is not null);
            Assert.DoesNotContain(Assert.Single(pod.Containers).VolumeMounts, m => m.MountPath == "/cache");
        }
    }
}
