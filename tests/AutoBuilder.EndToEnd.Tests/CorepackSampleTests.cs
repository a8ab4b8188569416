using System.IO.Compression;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>
/// yarn.lock and pnpm-lock.yaml projects on the defaults: the lock file picks the package manager, which corepack
/// downloads (the version package.json's packageManager names) and which installs the real dependency from the
/// registry, through the build's egress network. This machine's npm registry is a mirror that serves package
/// metadata without signatures, so the server is told so (Toolchains:Npm:VerifyCorepackSignatures=false), as an
/// operator behind such a mirror would.
/// </summary>
public sealed class CorepackSampleTests : IAsyncLifetime
{
    private ServerProcess _server = null!;
    private readonly string _root = TestPaths.NewTempDirectory("corepack");

    public async Task InitializeAsync() =>
        _server = await ServerProcess.StartAsync(Path.Combine(_root, "data"), new Dictionary<string, string> { ["Toolchains:Npm:VerifyCorepackSignatures"] = "false" });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [InlineData("yarn-hello", "corepack yarn install --frozen-lockfile && corepack yarn run build && npm pack")]
    [InlineData("pnpm-hello", "corepack pnpm install --frozen-lockfile && corepack pnpm run build && npm pack")]
    public async Task LockFile_PicksItsPackageManager_WhichInstallsFromTheRegistry_AndTheBuildPublishesItsTarball(string sample, string command)
    {
        var project = $"{sample}-{Guid.NewGuid():N}"[..24];
        var output = Path.Combine(_root, project);
        Directory.CreateDirectory(output);

        await CliProcess.BuildSampleAsync(_server, sample, project, output);

        using var client = _server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        var log = await ApiCalls.GetLogAsync(client, build.Id);
        Assert.True(build.Status == BuildStatus.Succeeded, log);
        Assert.Equal(command, build.Command);
        Assert.Contains("42 is a number | forty-two is not a number | is-number says true", log, StringComparison.Ordinal);
        using var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip"));
        Assert.Contains(zip.Entries, e => e.FullName == $"{sample}-1.0.0.tgz");
    }
}
