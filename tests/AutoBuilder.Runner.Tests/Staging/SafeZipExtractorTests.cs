using AutoBuilder.Runner.Staging;

namespace AutoBuilder.Runner.Tests.Staging;

public sealed class SafeZipExtractorTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    // The sandbox holds the zip and the target; nothing else may ever appear in it.
    private string Target => _temp.Combine("sandbox", "target");
    private string ZipPath => _temp.Combine("sandbox", "source.zip");

    public SafeZipExtractorTests() => Directory.CreateDirectory(_temp.Combine("sandbox"));

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("../x", "contains a '..' segment")]
    [InlineData("a/../../x", "contains a '..' segment")]
    [InlineData("a/b/../../../x", "contains a '..' segment")]
    [InlineData("..\\x", "contains a '..' segment")]
    [InlineData("a\\..\\..\\x", "contains a '..' segment")]
    [InlineData("C:\\x", "has a drive letter")]
    [InlineData("c:/x", "has a drive letter")]
    [InlineData("C:x", "has a drive letter")]
    [InlineData("\\\\server\\share\\x", "is an absolute path")]
    public void Extract_HostileEntryName_RefusedWithReasonAndNothingWritten(string name, string reason)
    {
        TestZip.Create(ZipPath, TestZip.File("ok.txt"), TestZip.File(name));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains($"'{name}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_AbsolutePath_RefusedAndNotWritten()
    {
        var outside = Path.Combine(Path.GetTempPath(), "autobuilder-escape-" + Guid.NewGuid().ToString("N"));
        TestZip.Create(ZipPath, TestZip.File(outside));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("is an absolute path", ex.Message, StringComparison.Ordinal);
        Assert.Contains(outside, ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(outside));
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_NulInName_Refused()
    {
        TestZip.Create(ZipPath, TestZip.File("evil\0.txt"));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("contains a NUL character", ex.Message, StringComparison.Ordinal);
        Assert.Contains("evil\\0.txt", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("a/b.txt", "a/b.txt")]
    [InlineData("a/b.txt", "a//b.txt")]
    [InlineData("a/b.txt", "./a/b.txt")]
    [InlineData("a/b.txt", "a\\b.txt")]
    public void Extract_DuplicateEntry_Refused(string first, string second)
    {
        TestZip.Create(ZipPath, TestZip.File(first, "one"), TestZip.File(second, "two"));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("is a duplicate entry", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Theory]
    [InlineData("../outside", "pointing outside the source folder")]
    [InlineData("a/../../outside", "pointing outside the source folder")]
    [InlineData("/etc/passwd", "absolute path")]
    public void Extract_SymlinkEscaping_Refused(string target, string reason)
    {
        TestZip.Create(ZipPath, TestZip.File("a/file.txt"), TestZip.Link("link", target));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("'link'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_SymlinkChainThroughAnotherLink_Refused()
    {
        // Each link alone stays inside lexically; followed physically, "d/up/.." is the target's parent.
        TestZip.Create(ZipPath, TestZip.File("d/f.txt"), TestZip.Link("d/up", ".."), TestZip.Link("escape", "d/up/../.."));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("'escape'", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_EntryInsideASymlink_Refused()
    {
        TestZip.Create(ZipPath, TestZip.Link("dir", "."), TestZip.File("dir/x.txt"));

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("lies inside a symlink", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_InTreeSymlink_CreatedAsLink()
    {
        TestZip.Create(ZipPath, TestZip.File("lib/real.txt", "content"), TestZip.Link("bin/alias.txt", "../lib/real.txt"));

        SafeZipExtractor.Extract(ZipPath, Target);

        var link = new FileInfo(Path.Combine(Target, "bin", "alias.txt"));
        Assert.Equal("../lib/real.txt", link.LinkTarget);
        Assert.Equal("content", File.ReadAllText(link.FullName));
    }

    [Fact]
    public void Extract_NotAZip_FailsWithReason()
    {
        File.WriteAllText(ZipPath, "this is not a zip");

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("not a valid ZIP archive", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    [Fact]
    public void Extract_SingleTopFolder_UsesItAsSourceRoot()
    {
        TestZip.Create(ZipPath, TestZip.File("repo-main/"), TestZip.File("repo-main/pom.xml"), TestZip.File("repo-main/src/A.java"));

        var result = SafeZipExtractor.Extract(ZipPath, Target);

        Assert.Equal(Path.Combine(Target, "repo-main"), result.SourceRoot);
        Assert.True(File.Exists(Path.Combine(result.SourceRoot, "pom.xml")));
        Assert.Equal(2, result.FileCount);
    }

    [Fact]
    public void Extract_TopFolderAndAFile_KeepsTheTargetAsSourceRoot()
    {
        TestZip.Create(ZipPath, TestZip.File("README"), TestZip.File("src/A.java"));

        var result = SafeZipExtractor.Extract(ZipPath, Target);

        Assert.Equal(Path.GetFullPath(Target), result.SourceRoot);
    }

    [Fact]
    public void Extract_ExecutableEntry_KeepsTheExecutableBit()
    {
        TestZip.Create(ZipPath, TestZip.File("gradlew", "#!/bin/sh\necho hi\n", mode: 0x1ED), TestZip.File("plain.txt"));

        SafeZipExtractor.Extract(ZipPath, Target);

        Assert.True(File.GetUnixFileMode(Path.Combine(Target, "gradlew")).HasFlag(UnixFileMode.UserExecute));
        Assert.False(File.GetUnixFileMode(Path.Combine(Target, "plain.txt")).HasFlag(UnixFileMode.UserExecute));
    }

    [Fact]
    public void Extract_EntryInflatingPastItsDeclaredSize_NeverWritesMoreThanDeclared()
    {
        // The API judges uploads by the central directory's sizes; a header that under-declares must not win.
        TestZip.Create(ZipPath, TestZip.File("big.txt", new string('a', 100_000)));
        var bytes = File.ReadAllBytes(ZipPath);
        var patched = 0;
        for (var i = 0; i + 4 <= bytes.Length; i++)
        {
            var signature = BitConverter.ToUInt32(bytes, i);
            var sizeOffset = signature switch { 0x04034b50 => 22, 0x02014b50 => 24, _ => -1 };
            if (sizeOffset > 0)
            {
                BitConverter.GetBytes(10u).CopyTo(bytes, i + sizeOffset);
                patched++;
            }
        }

        Assert.Equal(2, patched);
        File.WriteAllBytes(ZipPath, bytes);

        try
        {
            SafeZipExtractor.Extract(ZipPath, Target);
            Assert.True(new FileInfo(Path.Combine(Target, "big.txt")).Length <= 10, "wrote past the declared size");
        }
        catch (BuildFailureException ex)
        {
            Assert.Contains("'big.txt'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Extract_EntryLargerThanItsHeaderSays_FailsAsCorruptNamingTheEntry()
    {
        // .NET stops reading at the declared size: without a check the entry would be cut to 1,000 bytes and the build go on.
        TestZip.Create(ZipPath, TestZip.File("big.txt", new string('a', 100_000)));
        PatchDeclaredSizes(ZipPath, 1000);

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("the archive is corrupt: entry 'big.txt'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("larger than its header says", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Extract_CompressedDataBeyondTheDeclaredSize_RefusedBeforeAnyWrite()
    {
        TestZip.Create(ZipPath, TestZip.File("big.bin", new string('\0', 8 * 1024 * 1024)));
        PatchDeclaredSizes(ZipPath, 1000);

        var ex = Assert.Throws<BuildFailureException>(() => SafeZipExtractor.Extract(ZipPath, Target));

        Assert.Contains("the archive is corrupt: entry 'big.bin' is larger than its header says", ex.Message, StringComparison.Ordinal);
        AssertNothingWritten();
    }

    /// <summary>Sets the uncompressed size of the (single) entry in its local header and the central directory.</summary>
    private static void PatchDeclaredSizes(string zipPath, uint size)
    {
        var bytes = File.ReadAllBytes(zipPath);
        var local = BitConverter.ToUInt32(bytes, 0) == 0x04034b50 ? 0 : throw new InvalidDataException("no local header at 0");
        var eocd = bytes.Length - 22;
        Assert.Equal(0x06054b50u, BitConverter.ToUInt32(bytes, eocd));
        var central = (int)BitConverter.ToUInt32(bytes, eocd + 16);
        Assert.Equal(0x02014b50u, BitConverter.ToUInt32(bytes, central));
        BitConverter.GetBytes(size).CopyTo(bytes, local + 22);
        BitConverter.GetBytes(size).CopyTo(bytes, central + 24);
        File.WriteAllBytes(zipPath, bytes);
    }

    private void AssertNothingWritten()
    {
        // Validation happens before any write: the target stays empty and the sandbox holds only the zip.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Target));
        Assert.Equal(new[] { ZipPath, Target }.Order(StringComparer.Ordinal), Directory.EnumerateFileSystemEntries(_temp.Combine("sandbox")).Order(StringComparer.Ordinal));
        Assert.Equal([_temp.Combine("sandbox")], Directory.EnumerateFileSystemEntries(_temp.Path));
    }
}
