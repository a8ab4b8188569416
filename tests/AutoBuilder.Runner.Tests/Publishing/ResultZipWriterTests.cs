using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Tests.Publishing;

public sealed class ResultZipWriterTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task WriteAsync_Files_ListsPathSizeAndSha256AndZipsThem()
    {
        _temp.Write("src/out/a.txt", "alpha");
        _temp.Write("src/out/sub/b.bin", new string('b', 100_000));
        var zip = _temp.Combine("result.zip");

        var entries = await ResultZipWriter.WriteAsync(_temp.Combine("src"), ["out/a.txt", "out/sub/b.bin"], zip);

        Assert.Equal(["out/a.txt", "out/sub/b.bin"], entries.Select(e => e.Path));
        Assert.Equal(5, entries[0].Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("alpha"u8)), entries[0].Sha256);
        Assert.Equal(100_000, entries[1].Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(new string('b', 100_000)))), entries[1].Sha256);

        using var archive = ZipFile.OpenRead(zip);
        Assert.Equal(["out/a.txt", "out/sub/b.bin"], archive.Entries.Select(e => e.FullName));
        using var reader = new StreamReader(archive.GetEntry("out/a.txt")!.Open());
        Assert.Equal("alpha", await reader.ReadToEndAsync());
    }

    [Fact]
    public void Match_GlobsWithExclusions_FindsDeclaredFilesOnly()
    {
        _temp.Write("target/app-1.0.jar", "");
        _temp.Write("target/app-1.0-sources.jar", "");
        _temp.Write("target/original-app-1.0.jar", "");
        _temp.Write("target/classes/A.class", "");

        var files = OutputMatcher.Match(_temp.Path, ["target/*.jar", "!target/*-sources.jar", "!target/original-*.jar"]);

        Assert.Equal(["target/app-1.0.jar"], files);
    }

    [Fact]
    public void Match_SymlinkLeadingOutside_IsSkipped()
    {
        var secret = _temp.Write("outside/secret.txt", "secret");
        _temp.Write("src/out/ok.txt", "ok");
        File.CreateSymbolicLink(_temp.Combine("src", "out", "stolen.txt"), secret);
        var skipped = new List<string>();

        var files = OutputMatcher.Match(_temp.Combine("src"), ["out/**"], skipped.Add);

        Assert.Equal(["out/ok.txt"], files);
        Assert.Single(skipped, s => s.Contains("out/stolen.txt", StringComparison.Ordinal));
    }

    [Fact]
    public void NameArtifacts_SameFileNameTwice_FailsNamingBoth()
    {
        var ex = Assert.Throws<BuildFailureException>(() => OutputPublisher.NameArtifacts(["a/app.jar", "b/app.jar"]));
        Assert.Contains("'a/app.jar' and 'b/app.jar'", ex.Message, StringComparison.Ordinal);
    }
}
