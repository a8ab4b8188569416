using AutoBuilder.Core;
using AutoBuilder.Server.LegacyImport;

namespace AutoBuilder.Server.Tests.LegacyImport;

public class LegacyNamesTests
{
    [Theory]
    [InlineData("my-app")]
    [InlineData("a1")]
    public void ProjectId_keeps_a_valid_id(string name) => Assert.Equal(name, LegacyNames.ProjectId(name));

    [Theory]
    [InlineData("My App", "my-app-")]
    [InlineData("Café Ünïcode", "caf-n-code-")]
    [InlineData("프로젝트", "project-")]
    [InlineData("--x--", "x-")]
    public void ProjectId_maps_other_names_to_a_valid_id_with_a_hash(string name, string prefix)
    {
        var id = LegacyNames.ProjectId(name);
        Assert.True(Ids.IsValidProjectId(id), id);
        Assert.StartsWith(prefix, id, StringComparison.Ordinal);
        Assert.Equal(prefix.Length + 8, id.Length);
        Assert.Equal(id, LegacyNames.ProjectId(name)); // deterministic: a re-run maps it the same way
    }

    [Fact]
    public void ProjectId_of_two_names_that_slug_alike_differ()
    {
        Assert.NotEqual(LegacyNames.ProjectId("My App"), LegacyNames.ProjectId("my app"));
        Assert.True(LegacyNames.ProjectId(new string('x', 200) + " ").Length <= 63);
    }

    [Theory]
    [InlineData("my app.jar", "my_app-", ".jar")]
    [InlineData("빌드 로그.log", "file-", ".log")]
    [InlineData("..hidden", "file-", ".hidden")]
    [InlineData("..", "file-", "")]
    [InlineData("a/b.jar", "a_b-", ".jar")]
    [InlineData("weird.ext with space", "weird.ext_with_space-", "")]
    public void FileName_maps_names_artifacts_cannot_have(string name, string prefix, string extension)
    {
        var mapped = LegacyNames.FileName(name);
        Assert.True(Ids.IsValidFileName(mapped), mapped);
        Assert.StartsWith(prefix, mapped, StringComparison.Ordinal);
        Assert.EndsWith(extension, mapped, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("app.jar")]
    [InlineData("build.log")]
    [InlineData("app-1.0+b.jar")]
    public void FileName_keeps_a_valid_name(string name) => Assert.Equal(name, LegacyNames.FileName(name));

    [Theory]
    [InlineData("1.0.0", "1.0.0")]
    [InlineData("1.0-SNAPSHOT", "1.0-SNAPSHOT")]
    public void Version_keeps_a_valid_version(string name, string expected) => Assert.Equal(expected, LegacyNames.Version(name));

    [Theory]
    [InlineData("v 2.0")]
    [InlineData("릴리스")]
    [InlineData("..")]
    public void Version_maps_other_names_to_a_valid_version(string name) => Assert.True(Ids.IsValidVersion(LegacyNames.Version(name)));

    [Fact]
    public void RecordId_is_a_generated_id_fixed_by_kind_and_name()
    {
        var id = LegacyNames.RecordId("build", "my app");
        Assert.True(Ids.IsValidGeneratedId(id), id);
        Assert.Equal(id, LegacyNames.RecordId("build", "my app"));
        Assert.NotEqual(id, LegacyNames.RecordId("source", "my app"));
        Assert.NotEqual(id, LegacyNames.RecordId("build", "my-app"));
    }
}
