using AutoBuilder.Core.Archives;

namespace AutoBuilder.Core.Tests;

public sealed class ArchiveEntryNamesTests
{
    [Theory]
    [InlineData("evil\u202Etxt.sh")]
    [InlineData("a/\u2066b")]
    [InlineData("\u202Aname")]
    public void FindProblem_BidiControl_IsRefused(string name) =>
        Assert.Contains("bidirectional", ArchiveEntryNames.FindProblem(name), StringComparison.Ordinal);

    [Theory]
    [InlineData("caf\u00e9.txt")]
    [InlineData("cafe\u0301.txt")]
    [InlineData("\u65e5\u672c/\u0645\u0631\u062d\u0628\u0627.txt")]
    public void FindProblem_OtherUnicode_IsFine(string name) => Assert.Null(ArchiveEntryNames.FindProblem(name));

    [Theory]
    [InlineData("link", "src/a.txt")]
    [InlineData("a/b/link", "../../c")]
    [InlineData("a/link", "./x/../y")]
    public void FindSymlinkTargetProblem_InsideTheProject_IsFine(string entry, string target) =>
        Assert.Null(ArchiveEntryNames.FindSymlinkTargetProblem(entry, target));

    [Theory]
    [InlineData("link", "../x")]
    [InlineData("a/b/link", "../../../etc")]
    [InlineData("a/link", "x/../../..")]
    [InlineData("link", "/etc/passwd")]
    [InlineData("link", "C:\\Windows")]
    [InlineData("link", "..\\x")]
    [InlineData("link", "")]
    [InlineData("link", "a\0b")]
    public void FindSymlinkTargetProblem_Escaping_IsRefused(string entry, string target) =>
        Assert.NotNull(ArchiveEntryNames.FindSymlinkTargetProblem(entry, target));
}
