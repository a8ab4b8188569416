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
    // Gradle 4.4 prints this sample's task lines in the last few hundred ms of the build; its JVM banner comes seconds earlier.
    [InlineData("gradle-hello", "gradle-hello-1.0.0-SNAPSHOT.jar", "1.0.0-SNAPSHOT", "OpenJDK Runtime Environment")]
    public async Task Build_JavaSample_StreamsLogAndPublishesRunnableJar(string sample, string jar, string version, string liveLine)
    {
        var server = fixture.Server;
        var project = $"{sample}-{Guid.NewGuid():N}"[..30];
        var output = TestPaths.NewTempDirectory("out");

        var result = await CliProcess.BuildSampleAsync(server, sample, project, output);
        using var client = server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Succeeded, build.Status);
        Assert.Equal(version, build.Version);

        // The log reached the terminal while the build ran, not after it.
        var firstLive = result.Stdout.First(l => l.Text.Contains(liveLine, StringComparison.Ordinal));
        Assert.True(firstLive.SeenAt < build.FinishedAt, $"log line seen at {firstLive.SeenAt:O}, build finished at {build.FinishedAt:O}");

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
