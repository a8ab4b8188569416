using System.Diagnostics;
using System.Text;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Processes;
using AutoBuilder.Runner.Publishing;
using AutoBuilder.Runner.Tooling;

namespace AutoBuilder.Runner.Tests.Tooling;

/// <summary>Real offline builds of samples/ through ToolchainResolver and BuildProcess, as the runner does them.</summary>
public sealed class SampleBuildTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    // Offline here means a mirror of everything to file:///usr/share/maven-repo. Maven's -o cannot be
    // used with it: in offline mode Maven refuses to read even a file:// repository into an empty cache.
    private static ToolchainSettings OfflineMaven => new()
    {
        MavenSettingsFile = Path.Combine(Path.GetDirectoryName(Samples.Directory("maven-hello"))!, "maven-settings-offline.xml"),
    };

    [Fact]
    public async Task Build_MavenSampleOffline_ProducesARunnableJar()
    {
        var jar = await BuildSampleAsync("maven-hello", OfflineMaven);

        Assert.Equal("target/maven-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "maven", "repository", "junit", "junit")), "the local repository lives in the cache");
    }

    [Fact]
    public async Task Build_MavenSampleWithCustomCommand_GetsSettingsAndCacheThroughHomeAndMavenOpts()
    {
        // No -s, no -Dmaven.repo.local: only ~/.m2/settings.xml and MAVEN_OPTS can make this work offline.
        var jar = await BuildSampleAsync("maven-hello", OfflineMaven, "mvn -B -q package");

        Assert.Equal("target/maven-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "maven", "repository", "junit", "junit")), "MAVEN_OPTS points the local repository at the cache");
        Assert.False(Directory.Exists(_temp.Combine("home", ".m2", "repository")));
    }

    [Fact]
    public async Task Build_GradleSampleOffline_ProducesARunnableJar()
    {
        var jar = await BuildSampleAsync("gradle-hello", new ToolchainSettings());

        Assert.Equal("build/libs/gradle-hello-1.0.0-SNAPSHOT.jar", jar);
        Assert.True(Directory.Exists(_temp.Combine("cache", "gradle")), "GRADLE_USER_HOME lives in the cache");
    }

    private async Task<string> BuildSampleAsync(string sample, ToolchainSettings settings, string? command = null)
    {
        var source = _temp.Combine("src");
        Samples.CopyTo(sample, source);
        var home = _temp.Combine("home");
        var tmp = _temp.Combine("tmp");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(tmp);

        var toolchain = ToolchainResolver.Resolve(new ToolchainRequest(source, BuildConfigLoader.LoadFrom(source), null, command, settings, _temp.Combine("cache"), home));
        foreach (var (relative, content) in toolchain.HomeFiles)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(home, relative))!);
            await File.WriteAllTextAsync(Path.Combine(home, relative), content);
        }

        var output = new StringBuilder();
        var result = await new BuildProcess().RunAsync(
            new BuildProcessRequest
            {
                Command = toolchain.Command,
                WorkingDirectory = source,
                Environment = BuildEnvironment.Create(new BuildEnvironmentRequest(home, tmp, 1, "samples", toolchain.Environment, null)),
                Timeout = TimeSpan.FromMinutes(10),
            },
            (bytes, _) =>
            {
                output.Append(Encoding.UTF8.GetString(bytes.Span));
                return ValueTask.CompletedTask;
            });

        Assert.True(result.ExitCode == 0, $"{toolchain.Command} failed ({result.ExitCode}):\n{output}");
        var jar = Assert.Single(OutputMatcher.Match(source, toolchain.Artifacts));
        Assert.Equal($"Hello from {sample}", await RunJarAsync(Path.Combine(source, jar)));
        return jar;
    }

    private static async Task<string> RunJarAsync(string jar)
    {
        var start = new ProcessStartInfo("java") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-jar");
        start.ArgumentList.Add(jar);
        using var java = Process.Start(start)!;
        var stdout = await java.StandardOutput.ReadToEndAsync();
        await java.WaitForExitAsync();
        Assert.Equal(0, java.ExitCode);
        return stdout.Trim();
    }
}
