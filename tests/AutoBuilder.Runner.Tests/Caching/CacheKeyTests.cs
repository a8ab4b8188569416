using AutoBuilder.Core.Builds;
using AutoBuilder.Runner.Caching;

namespace AutoBuilder.Runner.Tests.Caching;

public sealed class CacheKeyTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Maven_KeyNamesEveryPomAndIgnoresBuildOutput()
    {
        _temp.Write("pom.xml", "<project>root</project>");
        _temp.Write("module/pom.xml", "<project>module</project>");
        _temp.Write("target/classes/META-INF/maven/pom.xml", "<project>copied by the build</project>");
        _temp.Write("src/main/java/App.java", "class App {}");

        var key = CacheKey.Compute(_temp.Path, Toolchains.Maven)!;

        Assert.Equal(["module/pom.xml", "pom.xml"], key.Manifests);
        Assert.Matches("^maven-[0-9a-f]{64}$", key.Key);
        Assert.Equal(["maven-"], key.RestoreKeys);
    }

    [Fact]
    public void Key_ChangesWithAManifest_NotWithOtherFiles_AndIsTheSameForTheSameManifests()
    {
        _temp.Write("a/pom.xml", "<project>1</project>");
        _temp.Write("b/pom.xml", "<project>1</project>");
        var first = CacheKey.Compute(_temp.Combine("a"), Toolchains.Maven)!.Key;
        Assert.Equal(first, CacheKey.Compute(_temp.Combine("b"), Toolchains.Maven)!.Key);

        _temp.Write("a/src/App.java", "class App {}");
        Assert.Equal(first, CacheKey.Compute(_temp.Combine("a"), Toolchains.Maven)!.Key);

        _temp.Write("a/pom.xml", "<project>2</project>");
        Assert.NotEqual(first, CacheKey.Compute(_temp.Combine("a"), Toolchains.Maven)!.Key);
    }

    [Fact]
    public void Key_ChangesWhenAManifestMoves()
    {
        _temp.Write("a/one/pom.xml", "<project/>");
        _temp.Write("b/two/pom.xml", "<project/>");

        Assert.NotEqual(CacheKey.Compute(_temp.Combine("a"), Toolchains.Maven)!.Key, CacheKey.Compute(_temp.Combine("b"), Toolchains.Maven)!.Key);
    }

    [Theory]
    [InlineData(Toolchains.Gradle, "build.gradle.kts", "settings.gradle.kts", "gradle/libs.versions.toml", "gradle/wrapper/gradle-wrapper.properties")]
    [InlineData(Toolchains.Npm, "package.json", "package-lock.json")]
    [InlineData(Toolchains.Npm, "package.json", "yarn.lock")]
    [InlineData(Toolchains.Npm, "package.json", "pnpm-lock.yaml")]
    [InlineData(Toolchains.DotNet, "App/App.csproj", "Directory.Packages.props", "App/packages.lock.json", "global.json")]
    public void EachToolchain_ReadsItsOwnManifests(string toolchain, params string[] manifests)
    {
        foreach (var manifest in manifests)
        {
            _temp.Write(manifest, manifest);
        }

        _temp.Write("node_modules/dep/package.json", "{}");
        _temp.Write("build/tmp/x.gradle", "");
        _temp.Write("App/obj/project.assets.json", "{}");

        var key = CacheKey.Compute(_temp.Path, toolchain)!;

        Assert.Equal(manifests.Order(StringComparer.Ordinal), key.Manifests);
        Assert.StartsWith(toolchain + "-", key.Key, StringComparison.Ordinal);
    }

    [Fact]
    public void NoManifests_NoKey()
    {
        _temp.Write("build.sh", "echo hi");

        Assert.Null(CacheKey.Compute(_temp.Path, Toolchains.Maven));
        Assert.Null(CacheKey.Compute(_temp.Path, Toolchains.Script));
    }

    [Fact]
    public void ConfiguredPatterns_ReplaceTheToolchains()
    {
        _temp.Write("pom.xml", "<project/>");
        _temp.Write("deps.txt", "a==1");

        var key = CacheKey.Compute(_temp.Path, Toolchains.Script, ["deps.txt"])!;

        Assert.Equal(["deps.txt"], key.Manifests);
        Assert.StartsWith("script-", key.Key, StringComparison.Ordinal);
    }
}
