using AutoBuilder.Core.Storage;

namespace AutoBuilder.Core.Tests;

public class BlobPathTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("demo/builds/7/logs/build.log")]
    [InlineData("maven/repository/org/x/1.0/x-1.0.jar")]
    [InlineData("a..b/.c/d.")]
    [InlineData("with space/ü")]
    public void Valid_KeepsTheRule(string path)
    {
        Assert.Null(BlobPath.FindProblem(path));
        Assert.True(BlobPath.IsValid(path));
        Assert.Equal(path, BlobPath.Require(path, "path"));
    }

    [Theory]
    [InlineData(null, "must not be empty")]
    [InlineData("", "must not be empty")]
    [InlineData("/etc/passwd", "must be relative")]
    [InlineData("a\\..\\..\\x", "not backslashes")]
    [InlineData("a\0b", "control characters")]
    [InlineData("a\nb", "control characters")]
    [InlineData("../x", "'..' segments")]
    [InlineData("a/../b", "'..' segments")]
    [InlineData("./a", "'..' segments")]
    [InlineData("a/./b", "'..' segments")]
    [InlineData("a//b", "'..' segments")]
    [InlineData("a/", "'..' segments")]
    public void Invalid_IsRefusedWithTheReason(string? path, string reason)
    {
        Assert.Contains(reason, BlobPath.FindProblem(path), StringComparison.Ordinal);
        Assert.False(BlobPath.IsValid(path));
        var refused = Assert.Throws<ArgumentException>(() => BlobPath.Require(path, "path"));
        Assert.Equal("path", refused.ParamName);
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("", "")]
    [InlineData("demo/builds/", "demo/builds/")]
    [InlineData("demo/bu", "demo/bu")]
    public void Prefix_Valid_IsReturned(string? prefix, string expected)
    {
        Assert.Equal(expected, BlobPath.RequirePrefix(prefix, "prefix"));
    }

    [Theory]
    [InlineData("/abs")]
    [InlineData("a\\b")]
    [InlineData("a\0")]
    public void Prefix_Invalid_IsRefused(string prefix)
    {
        Assert.Throws<ArgumentException>(() => BlobPath.RequirePrefix(prefix, "prefix"));
    }

    [Fact]
    public void CacheTreePath_KeepsThePathRuleAndAzuresNameLength()
    {
        Assert.True(BlobLayout.IsSafeTreePath(new string('a', BlobLayout.MaxTreePathLength)));
        Assert.False(BlobLayout.IsSafeTreePath(new string('a', BlobLayout.MaxTreePathLength + 1)));
        Assert.False(BlobLayout.IsSafeTreePath("maven/../x"));
        Assert.Throws<ArgumentException>(() => new BlobLayout(new ContainerNames()).CacheTreeFile("maven//x"));
    }
}
