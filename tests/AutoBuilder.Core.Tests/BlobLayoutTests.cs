using AutoBuilder.Core.Storage;

namespace AutoBuilder.Core.Tests;

public class BlobLayoutTests
{
    private readonly BlobLayout _layout = new(new ContainerNames());

    [Fact]
    public void Paths_FollowDesignLayout()
    {
        const string source = "0123456789abcdef0123456789abcdef";
        Assert.Equal(new BlobRef("uploads", $"demo/{source}/source.zip"), _layout.Source("demo", source));
        Assert.Equal(new BlobRef("projects", "demo/builds/7/logs/build.log"), _layout.BuildLog("demo", 7));
        Assert.Equal(new BlobRef("projects", "demo/builds/7/result.zip"), _layout.BuildResult("demo", 7));
        Assert.Equal(new BlobRef("projects", "demo/builds/7/result.json"), _layout.BuildManifest("demo", 7));
        Assert.Equal(new BlobRef("artifacts", "demo/1.0.0/app.jar"), _layout.Artifact("demo", "1.0.0", "app.jar"));
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("Demo")]
    [InlineData("-demo")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("a b")]
    public void ProjectId_Invalid_IsRefused(string projectId)
    {
        Assert.Throws<ArgumentException>(() => _layout.BuildLog(projectId, 1));
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../x.jar")]
    [InlineData("a/b.jar")]
    [InlineData(".hidden")]
    public void ArtifactName_Traversal_IsRefused(string name)
    {
        Assert.Throws<ArgumentException>(() => _layout.Artifact("demo", "1.0", name));
    }

    [Theory]
    [InlineData("1.0..2")]
    [InlineData("1/0")]
    [InlineData(".1")]
    public void Version_Invalid_IsRefused(string version)
    {
        Assert.Throws<ArgumentException>(() => _layout.Artifact("demo", version, "app.jar"));
    }

    [Fact]
    public void ContainerNames_AreConfigurable()
    {
        var layout = new BlobLayout(new ContainerNames { Projects = "p2" });
        Assert.Equal("p2", layout.BuildLog("demo", 1).Container);
    }
}
