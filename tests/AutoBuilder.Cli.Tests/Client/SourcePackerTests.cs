using System.IO.Compression;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class SourcePackerTests : IDisposable
{
    private readonly TempFolder _source = new();
    private readonly TempFolder _work = new();

    public void Dispose()
    {
        _source.Dispose();
        _work.Dispose();
    }

    [Fact]
    public async Task PackAsync_ExcludedFoldersAtAnyDepth_AreLeftOut()
    {
        _source.Write("pom.xml");
        _source.Write("src/main/App.java");
        _source.Write("src/build.gradle"); // a file named like an excluded folder is kept
        _source.Write("builder/keep.txt"); // a folder whose name only starts like one is kept
        _source.Write(".git/config");
        _source.Write("target/app.jar");
        _source.Write("build/libs/app.jar");
        _source.Write(".gradle/caches/x");
        _source.Write(".autobuilder/admin.key");
        _source.Write("web/node_modules/left-pad/index.js");
        _source.Write("modules/core/target/classes/A.class");
        _source.Write("modules/core/src/A.java");
        _source.Write("a/b/c/.git/HEAD");

        var names = await PackAndListAsync();

        Assert.Equal(
            ["builder/keep.txt", "modules/core/src/A.java", "pom.xml", "src/build.gradle", "src/main/App.java"],
            names.Where(n => !n.EndsWith('/')).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(names, n => n.Contains("node_modules", StringComparison.Ordinal) || n.Contains(".git/", StringComparison.Ordinal) || n.Contains("target", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PackAsync_NestedFolders_EntriesAreRelativeWithSlashesAndContentRoundTrips()
    {
        _source.Write("a/b/c/deep.txt", "deep content");
        _source.Write("top.txt", "top content");

        var zipPath = _work.Combine("out.zip");
        var result = await SourcePacker.PackAsync(_source.Path, zipPath);

        Assert.Equal(2, result.FileCount);
        using var archive = ZipFile.OpenRead(zipPath);
        Assert.Equal(["a/b/c/deep.txt", "top.txt"], archive.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));
        using var reader = new StreamReader(archive.GetEntry("a/b/c/deep.txt")!.Open());
        Assert.Equal("deep content", await reader.ReadToEndAsync());
    }

    [Fact]
    public async Task PackAsync_EmptyFolder_WritesValidZipWithNoEntries()
    {
        var zipPath = _work.Combine("empty.zip");

        var result = await SourcePacker.PackAsync(_source.Path, zipPath);

        Assert.Equal(0, result.FileCount);
        using var archive = ZipFile.OpenRead(zipPath);
        Assert.Empty(archive.Entries);
    }

    [Fact]
    public async Task PackAsync_EmptySubfolder_KeepsADirectoryEntry()
    {
        _source.Write("src/main/App.java");
        Directory.CreateDirectory(_source.Combine("src/main/resources"));

        var names = await PackAndListAsync();

        Assert.Contains("src/main/resources/", names);
    }

    [Fact]
    public async Task PackAsync_ExecutableFile_KeepsExecutableBitAfterExtraction()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var gradlew = _source.Write("gradlew", "#!/bin/sh\necho hi\n");
        var readme = _source.Write("README.md");
        File.SetUnixFileMode(gradlew, (UnixFileMode)0b111_101_101); // 0755
        File.SetUnixFileMode(readme, (UnixFileMode)0b110_100_100); // 0644
        var zipPath = _work.Combine("exec.zip");

        await SourcePacker.PackAsync(_source.Path, zipPath);

        using (var archive = ZipFile.OpenRead(zipPath))
        {
            Assert.Equal(0x81ED, (archive.GetEntry("gradlew")!.ExternalAttributes >> 16) & 0xFFFF); // S_IFREG | 0755
            Assert.Equal(0x81A4, (archive.GetEntry("README.md")!.ExternalAttributes >> 16) & 0xFFFF); // S_IFREG | 0644
        }

        var extracted = _work.Combine("extracted");
        await ZipFile.ExtractToDirectoryAsync(zipPath, extracted);
        Assert.True(File.GetUnixFileMode(Path.Combine(extracted, "gradlew")).HasFlag(UnixFileMode.UserExecute));
        Assert.False(File.GetUnixFileMode(Path.Combine(extracted, "README.md")).HasFlag(UnixFileMode.UserExecute));
    }

    [Fact]
    public async Task PackAsync_SymlinksToOutside_AreSkippedAndReported()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var outside = new TempFolder();
        var secret = outside.Write("secret.txt", "do not upload");
        _source.Write("src/App.java");
        File.CreateSymbolicLink(_source.Combine("src/secret.txt"), secret);
        Directory.CreateSymbolicLink(_source.Combine("outside"), outside.Path);
        var zipPath = _work.Combine("links.zip");

        var result = await SourcePacker.PackAsync(_source.Path, zipPath);

        using var archive = ZipFile.OpenRead(zipPath);
        Assert.Equal(["src/App.java"], archive.Entries.Select(e => e.FullName));
        Assert.Equal(["outside", "src/secret.txt"], result.SkippedLinks.Order(StringComparer.Ordinal));
    }

    private async Task<List<string>> PackAndListAsync()
    {
        var zipPath = _work.Combine(Guid.NewGuid().ToString("N") + ".zip");
        await SourcePacker.PackAsync(_source.Path, zipPath);
        using var archive = ZipFile.OpenRead(zipPath);
        return archive.Entries.Select(e => e.FullName).ToList();
    }
}
