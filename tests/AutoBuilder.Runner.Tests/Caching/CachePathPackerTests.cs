using System.Diagnostics;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Runner.Processes;

namespace AutoBuilder.Runner.Tests.Caching;

/// <summary>
/// A cache path packed the trust boundary's way: tar as the build user (nobody here) in the build's sandbox, its stream
/// parsed as data. Links, FIFOs and names an archive cannot carry are built by each test itself.
/// </summary>
public sealed class CachePathPackerTests : IDisposable
{
    private static readonly BuildUser Nobody = new(65534, 65534);
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(1);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>The build's view of its HOME: its sandbox (HOME the only folder bound) and the build user when the tests run as root.</summary>
    private BuildUserView ViewOf(string home) => new(
        [Sandbox.Find()!, .. Sandbox.Arguments(new SandboxRequest([home], home, Network: false))],
        Environment.IsPrivilegedProcess ? Nobody : null);

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // unsandboxed: the host's view, the link leads to the host's /etc
    public async Task LinkInAnEarlierComponent_SkipsThePathWithItsReason_AndCarriesNothingBeneathIt(bool sandboxed)
    {
        var home = _temp.Combine("home");
        Directory.CreateDirectory(home);
        File.CreateSymbolicLink(Path.Combine(home, "x"), "/");

        var (result, files) = await PackAsync(new CachePath(home, "x/etc", "home/x/etc"), sandboxed ? ViewOf(home) : new BuildUserView(null, Environment.IsPrivilegedProcess ? Nobody : null));

        Assert.False(result.Packed);
        Assert.Equal("'x' is a link, and a cache path is never followed through one", result.Skipped);
        Assert.Empty(files);
    }

    [Fact]
    public async Task TheLastComponentALink_SkipsThePath()
    {
        var home = _temp.Combine("home");
        Directory.CreateDirectory(Path.Combine(home, "a"));
        File.CreateSymbolicLink(Path.Combine(home, "a", "b"), "/etc");

        var (result, files) = await PackAsync(new CachePath(home, "a/b", "home/a/b"), ViewOf(home));

        Assert.Equal("'a/b' is a link, and a cache path is never followed through one", result.Skipped);
        Assert.Empty(files);
    }

    [Fact]
    public async Task Folder_CarriesFoldersAndRegularFilesOnly_AndRefusesNamesAnArchiveCannotCarry_WhichTheRestoreThenReads()
    {
        var home = _temp.Combine("home");
        _temp.Write("home/.deps/a.jar", "a");
        _temp.Write("home/.deps/sub/b.jar", "b");
        _temp.Write("home/.deps/bad\nname.jar", "lf");
        _temp.Write("home/.deps/bad\rdir/c.jar", "cr");
        File.CreateSymbolicLink(Path.Combine(home, ".deps", "passwd"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(home, ".deps", "root"), "/");
        using (var mkfifo = Process.Start("mkfifo", [Path.Combine(home, ".deps", "pipe")]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var (result, files) = await PackAsync(new CachePath(home, ".deps", "home/.deps"), ViewOf(home));

        Assert.True(result.Packed);
        Assert.Equal(2, result.Refused); // the file and the folder (whose file is left out with it)
        Assert.Equal(["home/.deps/a.jar", "home/.deps/sub/b.jar"], files);
    }

    [Fact]
    public async Task SparseFile_CountsItsApparentSize()
    {
        var home = _temp.Combine("home");
        _temp.Write("home/.deps/small.jar", "x");
        using (var sparse = File.Create(_temp.Combine("home", ".deps", "sparse.bin")))
        {
            sparse.SetLength(2L << 30); // 2 GiB, no block of it written
        }

        var destination = new MemoryStream();
        var archive = CacheArchive.CreateWriter(destination);
        await using (archive)
        {
            await Assert.ThrowsAsync<CacheContentTooLargeException>(() => CachePathPacker.PackAsync(
                new CachePath(home, ".deps", "home/.deps"), ViewOf(home), archive, 1L << 30, null, Limit, TimeProvider.System, default));
        }
    }

    [Fact]
    public async Task Restore_PastMaxBytes_CountingApparentSizes_Stops()
    {
        var home = _temp.Combine("home");
        _temp.Write("home/.deps/a.jar", new string('a', 10_000));
        var destination = new MemoryStream();
        var archive = CacheArchive.CreateWriter(destination);
        await using (archive)
        {
            await CachePathPacker.PackAsync(new CachePath(home, ".deps", "home/.deps"), ViewOf(home), archive, long.MaxValue, null, Limit, TimeProvider.System, default);
            await archive.CompleteAsync();
        }

        destination.Position = 0;
        var ex = await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(destination, _temp.Combine("restored"), maxBytes: 5_000));
        Assert.Contains("holds more than 5,000 bytes of files", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\nb", false)]
    [InlineData("a\rb", false)]
    [InlineData("a\u001bb", false)]
    [InlineData("a\\b", false)]
    [InlineData("a/../b", false)]
    [InlineData("/abs", false)]
    [InlineData("a/\uFFFD", false)]
    [InlineData("home/.deps/ünïcode jar.jar", true)]
    public void CanCarry_RefusesWhatTheRestoreOrALogLineWouldMisread(string name, bool carried) =>
        Assert.Equal(carried, CacheArchive.CanCarry(name));

    private async Task<(CachePathResult Result, List<string> Files)> PackAsync(CachePath path, BuildUserView view)
    {
        var destination = new MemoryStream();
        CachePathResult result;
        PackResult packed;
        var archive = CacheArchive.CreateWriter(destination);
        await using (archive)
        {
            result = await CachePathPacker.PackAsync(path, view, archive, long.MaxValue, null, Limit, TimeProvider.System, default);
            packed = await archive.CompleteAsync();
        }

        if (packed.FileCount == 0)
        {
            return (result, []); // an empty cache is never uploaded (KeyedCache: "the cache is empty")
        }

        destination.Position = 0;
        var restored = _temp.Combine("restored-" + Guid.NewGuid().ToString("N"));
        await CacheArchive.UnpackAsync(destination, restored);
        var files = Directory.EnumerateFiles(restored, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(restored, f)).Order(StringComparer.Ordinal).ToList();
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(restored, "*", SearchOption.AllDirectories), e => new FileInfo(e).LinkTarget is not null);
        return (result, files);
    }
}
