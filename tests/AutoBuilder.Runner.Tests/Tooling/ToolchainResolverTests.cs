using AutoBuilder.Core.Protocol;
using AutoBuilder.Runner.Configuration;
using AutoBuilder.Runner.Tooling;

namespace AutoBuilder.Runner.Tests.Tooling;

public sealed class ToolchainResolverTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("pom.xml", "maven")]
    [InlineData("build.gradle", "gradle")]
    [InlineData("build.gradle.kts", "gradle")]
    [InlineData("package.json", "npm")]
    [InlineData("App.sln", "dotnet")]
    [InlineData("App.csproj", "dotnet")]
    [InlineData("build.sh", "script")]
    public void Detect_ProjectFile_FindsToolchain(string file, string expected)
    {
        _temp.Write(file, "");
        Assert.Equal(expected, ToolchainResolver.Detect(_temp.Path));
    }

    [Fact]
    public void Detect_PomAndBuildScript_PrefersMaven()
    {
        _temp.Write("build.sh", "");
        _temp.Write("pom.xml", "");
        Assert.Equal("maven", ToolchainResolver.Detect(_temp.Path));
    }

    [Fact]
    public void Resolve_NothingToDetect_FailsWithHint()
    {
        _temp.Write("README.md", "");

        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request()));

        Assert.StartsWith("no toolchain detected: add autobuilder.yml or one of", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Maven_DefaultCommandUsesCacheSettingsAndOffline()
    {
        _temp.Write("src/pom.xml", "");
        var settings = _temp.Write("settings.xml", "<settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\"><mirrors/></settings>");

        var resolved = ToolchainResolver.Resolve(Request(settings: new ToolchainSettings { MavenSettingsFile = settings, MavenOffline = true }));

        var repository = Path.Combine(_temp.Path, "cache", "maven", "repository");
        Assert.Equal($"mvn -B -s {_temp.Combine("home", ".m2", "settings.xml")} -o -Dmaven.repo.local={repository} package", resolved.Command);
        Assert.Equal($"-Duser.home={_temp.Combine("home")} -Dmaven.repo.local={repository}", resolved.Environment["MAVEN_OPTS"]);
        Assert.Equal(ToolchainResolver.MavenArtifacts, resolved.Artifacts);
        Assert.Equal(ToolchainResolver.MavenArtifacts, resolved.Outputs);
        // Custom commands see the same settings (with offline) as ~/.m2/settings.xml.
        var userSettings = resolved.HomeFiles[".m2/settings.xml"];
        Assert.Contains("<offline>true</offline>", userSettings, StringComparison.Ordinal);
        Assert.Contains("<mirrors", userSettings, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_MavenWithoutSettings_NoHomeFiles()
    {
        _temp.Write("src/pom.xml", "");
        var resolved = ToolchainResolver.Resolve(Request());
        Assert.Empty(resolved.HomeFiles);
        Assert.DoesNotContain(" -s ", resolved.Command, StringComparison.Ordinal);
        Assert.DoesNotContain(" -o", resolved.Command, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "./gradlew --no-daemon build")]
    [InlineData(false, "gradle --no-daemon build")]
    public void Resolve_Gradle_WrapperIfPresentAndNoDaemon(bool wrapper, string command)
    {
        _temp.Write("src/build.gradle", "");
        if (wrapper)
        {
            _temp.Write("src/gradlew", "");
        }

        var resolved = ToolchainResolver.Resolve(Request());

        Assert.Equal(command, resolved.Command);
        Assert.Equal(Path.Combine(_temp.Path, "cache", "gradle"), resolved.Environment["GRADLE_USER_HOME"]);
        Assert.Equal("-Dorg.gradle.daemon=false", resolved.Environment["GRADLE_OPTS"]);
        Assert.Equal(["build/libs/*.jar"], resolved.Artifacts);
    }

    [Fact]
    public void Resolve_Script_DefaultsToBuildShWithNothingDeclared()
    {
        _temp.Write("src/build.sh", "");
        var resolved = ToolchainResolver.Resolve(Request());
        Assert.Equal("sh build.sh", resolved.Command);
        Assert.Empty(resolved.Outputs);
        Assert.Empty(resolved.Artifacts);
    }

    [Fact]
    public void Resolve_Commands_SpecOverridesYmlOverridesDefault()
    {
        _temp.Write("src/pom.xml", "");
        var yml = new BuildConfig { Command = "mvn -B verify" };

        Assert.Equal("mvn -B verify", ToolchainResolver.Resolve(Request(yml)).Command);
        Assert.Equal("make", ToolchainResolver.Resolve(Request(yml, command: "make")).Command);
    }

    [Fact]
    public void Resolve_Toolchains_SpecOverridesYmlOverridesDetection()
    {
        _temp.Write("src/pom.xml", "");
        var yml = new BuildConfig { Toolchain = "script" };

        Assert.Equal("script", ToolchainResolver.Resolve(Request(yml)).Name);
        Assert.Equal("gradle", ToolchainResolver.Resolve(Request(yml, toolchain: "gradle")).Name);
    }

    [Fact]
    public void Resolve_YmlArtifactsOnly_OutputsDefaultToThem()
    {
        _temp.Write("src/build.sh", "");
        var resolved = ToolchainResolver.Resolve(Request(new BuildConfig { Artifacts = ["dist/*.tgz"] }));
        Assert.Equal(["dist/*.tgz"], resolved.Outputs);
        Assert.Equal(["dist/*.tgz"], resolved.Artifacts);
    }

    [Fact]
    public void Resolve_UnknownRequestedToolchain_Fails()
    {
        _temp.Write("src/pom.xml", "");
        var ex = Assert.Throws<BuildFailureException>(() => ToolchainResolver.Resolve(Request(toolchain: "ant")));
        Assert.Contains("unknown toolchain 'ant'", ex.Message, StringComparison.Ordinal);
    }

    private ToolchainRequest Request(BuildConfig? config = null, string? toolchain = null, string? command = null, ToolchainSettings? settings = null)
    {
        var source = _temp.Combine("src");
        Directory.CreateDirectory(source);
        return new ToolchainRequest(source, config ?? BuildConfig.Empty, toolchain, command, settings ?? new ToolchainSettings(), _temp.Combine("cache"), _temp.Combine("home"));
    }
}
