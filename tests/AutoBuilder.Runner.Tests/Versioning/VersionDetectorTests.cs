using AutoBuilder.Runner.Versioning;

namespace AutoBuilder.Runner.Tests.Versioning;

public sealed class VersionDetectorTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Detect_PomWithVersion_UsesIt()
    {
        _temp.Write("pom.xml", """
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <parent><groupId>g</groupId><artifactId>p</artifactId><version>9.9.9</version></parent>
              <artifactId>a</artifactId>
              <version>1.2.3-SNAPSHOT</version>
              <dependencies><dependency><version>7.0</version></dependency></dependencies>
            </project>
            """);

        Assert.Equal(new DetectedVersion("1.2.3-SNAPSHOT", "pom.xml"), VersionDetector.Detect(_temp.Path, null, 42));
    }

    [Fact]
    public void Detect_PomWithParentVersionOnly_UsesParent()
    {
        _temp.Write("pom.xml", """
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <parent><groupId>g</groupId><artifactId>p</artifactId><version>3.1.0</version></parent>
              <artifactId>a</artifactId>
            </project>
            """);

        Assert.Equal("3.1.0", VersionDetector.Detect(_temp.Path, null, 42).Version);
    }

    [Fact]
    public void Detect_PomWithPropertyVersion_FallsBackToBuildNumberWithWarning()
    {
        _temp.Write("pom.xml", "<project><version>${revision}</version></project>");

        var detected = VersionDetector.Detect(_temp.Path, null, 42);

        Assert.Equal("42", detected.Version);
        Assert.Contains("'${revision}' from pom.xml is not a valid version", detected.Warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("build.gradle", "apply plugin: 'java'\nversion = '1.0.0-SNAPSHOT'\n")]
    [InlineData("build.gradle", "group 'g'\nversion '1.0.0-SNAPSHOT'\n")]
    [InlineData("build.gradle.kts", "plugins { java }\nversion = \"1.0.0-SNAPSHOT\"\n")]
    public void Detect_GradleBuild_UsesVersion(string file, string content)
    {
        _temp.Write(file, content);
        Assert.Equal(new DetectedVersion("1.0.0-SNAPSHOT", file), VersionDetector.Detect(_temp.Path, null, 42));
    }

    [Fact]
    public void Detect_PackageJson_UsesVersion()
    {
        _temp.Write("package.json", """{ "name": "x", "version": "0.4.2" }""");
        Assert.Equal("0.4.2", VersionDetector.Detect(_temp.Path, null, 42).Version);
    }

    [Theory]
    [InlineData("<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><Version>2.3.4</Version></PropertyGroup></Project>", "2.3.4")]
    [InlineData("<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><Version>$(Major).0</Version></PropertyGroup></Project>", "42")]
    [InlineData("<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><OutputType>Exe</OutputType></PropertyGroup></Project>", "42")]
    public void Detect_DotNetProject_UsesItsVersionUnlessBuiltFromProperties(string project, string expected)
    {
        _temp.Write("App.csproj", project);
        Assert.Equal(expected, VersionDetector.Detect(_temp.Path, null, 42).Version);
    }

    [Fact]
    public void Detect_SeveralDotNetProjects_UsesBuildNumber()
    {
        _temp.Write("A.csproj", "<Project><PropertyGroup><Version>1.0.0</Version></PropertyGroup></Project>");
        _temp.Write("B.csproj", "<Project><PropertyGroup><Version>2.0.0</Version></PropertyGroup></Project>");
        Assert.Equal(new DetectedVersion("42", "build number"), VersionDetector.Detect(_temp.Path, null, 42));
    }

    [Fact]
    public void Detect_YmlVersion_WinsOverProjectFile()
    {
        _temp.Write("pom.xml", "<project><version>1.0</version></project>");
        Assert.Equal(new DetectedVersion("2.0.0", "autobuilder.yml"), VersionDetector.Detect(_temp.Path, "2.0.0", 42));
    }

    [Fact]
    public void Detect_NothingDeclared_UsesBuildNumber()
    {
        Assert.Equal(new DetectedVersion("42", "build number"), VersionDetector.Detect(_temp.Path, null, 42));
    }

    [Fact]
    public void Detect_SampleProjects_ReadTheirVersions()
    {
        Assert.Equal("1.0.0-SNAPSHOT", VersionDetector.Detect(Samples.Directory("maven-hello"), null, 1).Version);
        Assert.Equal("1.0.0-SNAPSHOT", VersionDetector.Detect(Samples.Directory("gradle-hello"), null, 1).Version);
    }
}
