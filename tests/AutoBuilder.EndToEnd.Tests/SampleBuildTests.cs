using System.Diagnostics;
using System.IO.Compression;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>The README's tour: `autobuilder build samples/...` against a running `serve`, real Maven and Gradle.</summary>
public sealed class SampleBuildTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Theory]
    [InlineData("maven-hello", "maven-hello-1.0.0-SNAPSHOT.jar", "1.0.0-SNAPSHOT", "[INFO] Building")]
    [InlineData("gradle-hello", "gradle-hello-1.0.0-SNAPSHOT.jar", "1.0.0-SNAPSHOT", "OpenJDK Runtime Environment")]
    public async Task Build_JavaSample_StreamsLogAndPublishesRunnableJar(string sample, string jar, string version, string logLine)
    {
        var server = fixture.Server;
        var project = $"{sample}-{Guid.NewGuid():N}"[..30];
        var output = TestPaths.NewTempDirectory("out");

        var result = await CliProcess.BuildSampleAsync(server, sample, project, output);
        using var client = server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Succeeded, build.Status);
        Assert.Equal(version, build.Version);

        // The tool's log reached the terminal. That it arrives while the build runs, not after, is
        // Build_FollowsTheLogLive_WhileTheBuildRuns: a build held open until the test has seen its line.
        Assert.Contains(result.Stdout, l => l.Text.Contains(logLine, StringComparison.Ordinal));

        // Blobs lie at the paths of docs/ARCHITECTURE.md, "Blob layout".
        Assert.True(File.Exists(Path.Combine(server.BlobRoot, "uploads", project, build.SourceId, "source.zip")));
        var buildFolder = Path.Combine(server.BlobRoot, "projects", project, "builds", "1");
        Assert.True(File.Exists(Path.Combine(buildFolder, "logs", "build.log")));
        Assert.True(File.Exists(Path.Combine(buildFolder, "result.zip")));
        Assert.True(File.Exists(Path.Combine(buildFolder, "result.json")));
        var promoted = Path.Combine(server.BlobRoot, "artifacts", project, version, jar);
        Assert.True(File.Exists(promoted), $"missing {promoted}");

        // The promoted jar runs, and result.zip came down to --out.
        Assert.Contains($"Hello from {sample}", await RunJavaAsync(promoted));
        using (var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip")))
        {
            Assert.Contains(zip.Entries, e => e.Name == jar);
        }

        Directory.Delete(output, recursive: true);
    }

    [Fact]
    public async Task Build_FollowsTheLogLive_WhileTheBuildRuns()
    {
        // The build prints a line, then waits for a file in its cache folder (which a sandboxed build can see: the keyed
        // cache's private folder in its workspace) that the test writes only once the CLI has shown the line: if the CLI
        // did not stream the log while the build runs, the line could never appear first, and the hang guard fails the test.
        var server = fixture.Server;
        var project = $"live-{Guid.NewGuid():N}"[..20];
        var source = TestPaths.NewTempDirectory("live");
        var releaseName = "release-" + Guid.NewGuid().ToString("N");
        await File.WriteAllTextAsync(Path.Combine(source, "build.sh"), $"echo LIVE-LINE\nwhile [ ! -e \"$AUTOBUILDER_CACHE/{releaseName}\" ]; do sleep 0.1; done\necho RELEASED\n");
        var environment = new Dictionary<string, string> { ["AUTOBUILDER_SERVER"] = server.Url.ToString(), ["AUTOBUILDER_API_KEY"] = server.AdminKey };
        using var cli = CliProcess.Start(source, environment, "build", source, "--project", project, "--no-download");
        var stderr = new System.Text.StringBuilder();
        cli.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        cli.BeginErrorReadLine();
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(3)); // hang guard
        try
        {
            string? line;
            while ((line = await cli.StandardOutput.ReadLineAsync(guard.Token)) is not null && !line.Contains("LIVE-LINE", StringComparison.Ordinal))
            {
            }

            Assert.True(line is not null, $"the CLI ended without showing the build's line: {stderr}");
            using var client = server.CreateClient();
            var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
            Assert.Equal(BuildStatus.Running, build.Status); // it cannot end before the release below

            await File.WriteAllTextAsync(Path.Combine(server.WorkspaceOf(build.Id, build.Attempt), "cache", releaseName), "");
            var rest = await cli.StandardOutput.ReadToEndAsync(guard.Token);
            await cli.WaitForExitAsync(guard.Token);

            Assert.True(cli.ExitCode == 0, $"exit {cli.ExitCode}\n{rest}\n{stderr}");
            Assert.Contains("RELEASED", rest, StringComparison.Ordinal);
            Assert.Equal(BuildStatus.Succeeded, (await ApiCalls.GetBuildAsync(client, build.Id)).Status);
        }
        finally
        {
            if (!cli.HasExited)
            {
                cli.Kill(entireProcessTree: true);
            }

            Directory.Delete(source, recursive: true);
        }
    }

    [Fact]
    public async Task Build_ScriptSample_SucceedsWithDeclaredOutputsAndArtifacts()
    {
        var server = fixture.Server;
        var project = $"script-{Guid.NewGuid():N}"[..20];
        var output = TestPaths.NewTempDirectory("out");

        await CliProcess.BuildSampleAsync(server, "script-hello", project, output);
        using var client = server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Succeeded, build.Status);
        Assert.Equal("1.0.0", build.Version);
        var artifacts = Directory.GetFiles(Path.Combine(server.BlobRoot, "artifacts", project, "1.0.0"));
        Assert.NotEmpty(artifacts);
        using (var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip")))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "out/hello.txt");
        }

        // The manifest lists every file of result.zip with its SHA-256.
        var manifest = await File.ReadAllTextAsync(Path.Combine(server.BlobRoot, "projects", project, "builds", "1", "result.json"));
        Assert.Contains("out/hello.txt", manifest, StringComparison.Ordinal);
        Assert.Matches("\"sha256\":\\s*\"[0-9a-f]{64}\"", manifest);
        Directory.Delete(output, recursive: true);
    }

    private static async Task<string> RunJavaAsync(string jar)
    {
        var startInfo = new ProcessStartInfo("java") { RedirectStandardOutput = true, UseShellExecute = false };
        startInfo.ArgumentList.Add("-jar");
        startInfo.ArgumentList.Add(jar);
        using var java = Process.Start(startInfo)!;
        var text = await java.StandardOutput.ReadToEndAsync();
        await java.WaitForExitAsync();
        Assert.Equal(0, java.ExitCode);
        return text;
    }
}
