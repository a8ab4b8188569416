using System.IO.Compression;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// The npm and .NET samples on a plain server (no settings): built through the CLI with their default commands, each
/// build downloads its real dependency from the npm or NuGet registry itself, through its own egress network.
/// </summary>
public sealed class RegistrySampleTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task NpmSample_InstallsFromTheRegistry_BuildsAndPublishesItsPackedTarball()
    {
        var (build, log, output) = await BuildAsync("npm-hello");

        Assert.Contains("network: egress", log, StringComparison.Ordinal);
        Assert.Equal("npm ci && npm run build && npm pack", build.Command);
        Assert.Equal("1.0.0", build.Version);
        Assert.Contains("42 is a number | forty-two is not a number | is-number says true", log, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fixture.Server.BlobRoot, "artifacts", build.ProjectId, "1.0.0", "npm-hello-1.0.0.tgz")));
        using var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip"));
        Assert.Contains(zip.Entries, e => e.FullName == "dist/index.js");
        Assert.Contains(zip.Entries, e => e.FullName == "npm-hello-1.0.0.tgz");
    }

    [Fact]
    public async Task NpmProject_WithoutALockFile_InstallsWithNpmInstall()
    {
        using var client = fixture.Server.CreateClient();
        var sample = Path.Combine(TestPaths.Samples, "npm-hello");
        var files = new[] { "package.json", "build.js" }.ToDictionary(name => name, name => File.ReadAllText(Path.Combine(sample, name)));
        var build = await ApiCalls.StartBuildAsync(client, $"nolock-{Guid.NewGuid():N}"[..20], files);

        var ended = await ApiCalls.WaitForEndAsync(client, build.Id, TimeSpan.FromMinutes(5));

        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(ended.Status == BuildStatus.Succeeded, log);
        Assert.Equal("npm install && npm run build && npm pack", ended.Command);
        Assert.Contains("42 is a number", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DotNetSample_RestoresFromNuGet_PublishesTheProject()
    {
        var (build, log, output) = await BuildAsync("dotnet-hello");

        Assert.Equal("dotnet publish dotnet-hello.csproj -c Release -o out", build.Command);
        Assert.Equal("1.0.0", build.Version);
        Assert.Contains("Restored ", log, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(fixture.Server.BlobRoot, "artifacts", build.ProjectId, "1.0.0", "dotnet-hello.dll")));
        using var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip"));
        Assert.Contains(zip.Entries, e => e.FullName == "out/dotnet-hello.dll");
    }

    private async Task<(BuildDto Build, string Log, string Output)> BuildAsync(string sample)
    {
        var project = $"{sample}-{Guid.NewGuid():N}"[..24];
        var output = TestPaths.NewTempDirectory("out");
        await CliProcess.BuildSampleAsync(fixture.Server, sample, project, output);
        using var client = fixture.Server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Succeeded, build.Status);
        return (build, await ApiCalls.GetLogAsync(client, build.Id), output);
    }
}
