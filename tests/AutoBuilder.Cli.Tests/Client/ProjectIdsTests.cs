using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class ProjectIdsTests
{
    [Theory]
    [InlineData("my-app", "my-app")]
    [InlineData("MyApp", "myapp")]
    [InlineData("My App", "my-app")]
    [InlineData("spring_boot.demo", "spring-boot-demo")]
    [InlineData("__Weird  Name__", "weird-name")]
    [InlineData("app-2.0", "app-2-0")]
    public void TryDeriveFromName_UsableName_GivesValidId(string name, string expected) =>
        Assert.Equal(expected, ProjectIds.TryDeriveFromName(name));

    [Theory]
    [InlineData("프로젝트")]
    [InlineData("---")]
    [InlineData("")]
    [InlineData("a123456789012345678901234567890123456789012345678901234567890123")] // 64 characters
    public void TryDeriveFromName_NoValidIdPossible_ReturnsNull(string name) =>
        Assert.Null(ProjectIds.TryDeriveFromName(name));

    [Fact]
    public void TryDerive_FolderWithTrailingSeparator_UsesFolderName()
    {
        using var temp = new TempFolder();
        var folder = temp.Combine("Hello_World");
        Directory.CreateDirectory(folder);

        Assert.Equal("hello-world", ProjectIds.TryDerive(folder + Path.DirectorySeparatorChar));
    }

    [Fact]
    public void TryDerive_ZipFile_DropsTheExtension()
    {
        using var temp = new TempFolder();
        var zip = temp.Write("Demo.Service.zip");

        Assert.Equal("demo-service", ProjectIds.TryDerive(zip));
    }
}
