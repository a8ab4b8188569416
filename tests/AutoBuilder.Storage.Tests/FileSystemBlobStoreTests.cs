using System.Security.Cryptography;
using System.Text;
using System.Web;
using AutoBuilder.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Storage.Tests;

/// <summary>Behaviour specific to the filesystem store: path safety, temp files, import, signed URLs.</summary>
public sealed class FileSystemBlobStoreTests : IAsyncLifetime
{
    private readonly TempFolder _folder = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
    private string _root = "";
    private FileSystemBlobStore _store = null!;
    private readonly ContainerNames _containers = new();

    public async Task InitializeAsync()
    {
        // The root sits one level down so writes that escaped it would land in the (otherwise empty) test folder.
        _root = Path.Combine(_folder.Path, "root");
        _store = new FileSystemBlobStore(TempFolder.Options(_root), _time);
        await _store.InitializeAsync();
    }

    public Task DisposeAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }

    public static TheoryData<string, string> BadRefs => new()
    {
        { "projects", "../x" },
        { "projects", "a/../../x" },
        { "projects", "a/../b" },
        { "projects", "../../../outside" },
        { "projects", "/etc/passwd" },
        { "projects", "a\\..\\..\\x" },
        { "projects", "a\0b" },
        { "projects", "a\nb" },
        { "projects", "a//b" },
        { "projects", "a/" },
        { "projects", "./a" },
        { "projects", "a/./b" },
        { "projects", "" },
        { "unknown", "a" },
        { "..", "x" },
        { ".tmp", "x" },
        { "", "a" },
    };

    [Theory]
    [MemberData(nameof(BadRefs))]
    public async Task EveryOperation_UnsafeBlobRef_ThrowsArgumentExceptionAndWritesNothing(string container, string path)
    {
        var bad = new BlobRef(container, path);
        var good = new BlobRef(_containers.Projects, "ok/blob");
        var localFile = Path.Combine(_folder.Path, "local.bin");
        await File.WriteAllTextAsync(localFile, "local");

        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.UploadAsync(bad, new MemoryStream("x"u8.ToArray()), overwrite: true));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.AppendAsync(bad, new MemoryStream("x"u8.ToArray())));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.ImportFileAsync(bad, localFile, overwrite: true));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.OpenReadAsync(bad));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.GetPropertiesAsync(bad));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.DeleteAsync(bad));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.CopyAsync(bad, good, overwrite: true));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.CopyAsync(good, bad, overwrite: true));
        Assert.ThrowsAny<ArgumentException>(() => _store.GetSignedUrl(bad, BlobPermission.Write, TimeSpan.FromHours(1)));
        Assert.ThrowsAny<ArgumentException>(() => _store.GetLocalPath(bad));

        Assert.True(File.Exists(localFile));
        Assert.Equal([localFile, Path.Combine(_folder.Path, "root")], Directory.EnumerateFileSystemEntries(_folder.Path).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories));
        Assert.Equal([.. _containers.All.Append(".tmp").Select(c => Path.Combine(_root, c)).Order(StringComparer.Ordinal)],
            Directory.EnumerateFileSystemEntries(_root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("unknown", "")]
    [InlineData("projects", "../")]
    [InlineData("projects", "a/../../")]
    [InlineData("projects", "/abs")]
    [InlineData("projects", "a\\b")]
    public void ListAsync_UnsafeContainerOrPrefix_ThrowsArgumentException(string container, string prefix)
    {
        Assert.ThrowsAny<ArgumentException>(() => _store.ListAsync(container, prefix));
    }

    [Fact]
    public void GetLocalPath_ValidBlob_IsTheFileUnderRootAndContainer()
    {
        var path = _store.GetLocalPath(new BlobRef("artifacts", "p/1.0.0/app.jar"));

        Assert.Equal(Path.Combine(_root, "artifacts", "p", "1.0.0", "app.jar"), path);
    }

    [Fact]
    public async Task UploadAsync_StreamFailsHalfWay_LeavesNoTempFile()
    {
        await Assert.ThrowsAsync<IOException>(() => _store.UploadAsync(new BlobRef("uploads", "p/s/source.zip"), new FailingStream(2_500_000), overwrite: false));

        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, ".tmp")));
        Assert.Empty(Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task UploadAsync_CompletedBlobs_LeaveNoTempFilesAndAreNeverListedFromTemp()
    {
        await _store.UploadAsync(new BlobRef("uploads", "p/s/source.zip"), new MemoryStream(new byte[10]), overwrite: false);
        await File.WriteAllTextAsync(Path.Combine(_root, ".tmp", "stray.tmp"), "crash leftover");

        Assert.Equal(["p/s/source.zip"], await ListPathsAsync("uploads", ""));
        Assert.Equal(["stray.tmp"], Directory.EnumerateFiles(Path.Combine(_root, ".tmp")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task AppendAsync_StreamFailsHalfWay_LeavesEarlierContentExactly()
    {
        var log = new BlobRef("projects", "p/builds/1/logs/build.log");
        await _store.AppendAsync(log, new MemoryStream("complete line\n"u8.ToArray()));

        await Assert.ThrowsAsync<IOException>(() => _store.AppendAsync(log, new FailingStream(1000)));
        var length = await _store.AppendAsync(log, new MemoryStream("next line\n"u8.ToArray()));

        Assert.Equal(24, length);
        Assert.Equal("complete line\nnext line\n", await File.ReadAllTextAsync(_store.GetLocalPath(log)));
    }

    [Fact]
    public async Task OpenReadAsync_StreamOpenDuringAppends_SeesTheAppendedData()
    {
        var log = new BlobRef("projects", "p/builds/2/logs/build.log");
        await _store.AppendAsync(log, new MemoryStream("one\n"u8.ToArray()));
        await using var reader = await _store.OpenReadAsync(log);
        var buffer = new byte[64];
        var first = await reader.ReadAsync(buffer);

        await _store.AppendAsync(log, new MemoryStream("two\n"u8.ToArray()));
        var second = await reader.ReadAsync(buffer.AsMemory(first));

        Assert.Equal("one\ntwo\n", Encoding.UTF8.GetString(buffer, 0, first + second));
    }

    [Fact]
    public async Task DeleteAsync_LastBlobOfAFolder_RemovesEmptyFoldersButNotTheContainer()
    {
        var blob = new BlobRef("projects", "p/builds/3/result.zip");
        await _store.UploadAsync(blob, new MemoryStream([1, 2, 3]), overwrite: false);
        await _store.UploadAsync(new BlobRef("projects", "p/keep"), new MemoryStream([1]), overwrite: false);

        Assert.True(await _store.DeleteAsync(blob));

        Assert.False(Directory.Exists(Path.Combine(_root, "projects", "p", "builds")));
        Assert.True(File.Exists(Path.Combine(_root, "projects", "p", "keep")));
        Assert.True(await _store.DeleteAsync(new BlobRef("projects", "p/keep")));
        Assert.Equal([Path.Combine(_root, "projects")], Directory.EnumerateDirectories(_root).Where(d => d.EndsWith("projects", StringComparison.Ordinal)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "projects")));
    }

    [Fact]
    public async Task ImportFileAsync_LocalFile_MovesItIntoPlaceWithSizeAndHash()
    {
        var local = Path.Combine(_folder.Path, "result.zip");
        var bytes = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 5);
        await File.WriteAllBytesAsync(local, bytes);
        var blob = new BlobRef("projects", "p/builds/4/result.zip");

        var result = await _store.ImportFileAsync(blob, local, overwrite: false);

        Assert.False(File.Exists(local));
        Assert.Equal(bytes.Length, result.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), result.Sha256);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(_store.GetLocalPath(blob)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, ".tmp")));
    }

    [Fact]
    public async Task ImportFileAsync_ExistingBlobWithoutOverwrite_ThrowsAndKeepsBothFiles()
    {
        var blob = new BlobRef("artifacts", "p/1.0.0/app.jar");
        await _store.UploadAsync(blob, new MemoryStream("released"u8.ToArray()), overwrite: false);
        var local = Path.Combine(_folder.Path, "app.jar");
        await File.WriteAllTextAsync(local, "rebuilt");

        await Assert.ThrowsAsync<BlobAlreadyExistsException>(() => _store.ImportFileAsync(blob, local, overwrite: false));

        Assert.Equal("rebuilt", await File.ReadAllTextAsync(local));
        Assert.Equal("released", await File.ReadAllTextAsync(_store.GetLocalPath(blob)));
    }

    [Fact]
    public async Task ImportFileAsync_ExistingBlobWithOverwrite_ReplacesIt()
    {
        var blob = new BlobRef("projects", "p/builds/5/result.json");
        await _store.UploadAsync(blob, new MemoryStream("old"u8.ToArray()), overwrite: false);
        var local = Path.Combine(_folder.Path, "result.json");
        await File.WriteAllTextAsync(local, "new");

        var result = await _store.ImportFileAsync(blob, local, overwrite: true);

        Assert.Equal(3, result.Size);
        Assert.False(File.Exists(local));
        Assert.Equal("new", await File.ReadAllTextAsync(_store.GetLocalPath(blob)));
    }

    [Fact]
    public async Task ImportFileAsync_MissingLocalFile_ThrowsFileNotFound()
    {
        await Assert.ThrowsAsync<FileNotFoundException>(
            () => _store.ImportFileAsync(new BlobRef("projects", "p/x"), Path.Combine(_folder.Path, "nope"), overwrite: true));
    }

    [Fact]
    public async Task IsReachableAsync_RootRemoved_ReturnsFalse()
    {
        Directory.Delete(_root, recursive: true);

        Assert.False(await _store.IsReachableAsync());
    }

    [Fact]
    public void GetSignedUrl_Blob_PointsAtApiWithEscapedSegmentsAndVerifies()
    {
        var blob = new BlobRef("projects", "p/builds/7/artifacts/my app#1%.jar");

        var signed = _store.GetSignedUrl(blob, BlobPermission.Read, TimeSpan.FromHours(1));

        Assert.Equal(_time.GetUtcNow().AddHours(1), signed.ExpiresAt);
        Assert.Equal("https://builds.example.com/blobs/projects/p/builds/7/artifacts/my%20app%231%25.jar", signed.Url.GetLeftPart(UriPartial.Path));
        var query = HttpUtility.ParseQueryString(signed.Url.Query);
        Assert.Equal(new string?[] { "sp", "exp", "sig" }, query.AllKeys);
        Assert.Equal("r", query["sp"]);
        Assert.Equal(signed.ExpiresAt.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), query["exp"]);
        var check = _store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], _time.GetUtcNow());
        Assert.Equal(new SignatureCheck(SignatureStatus.Valid, BlobPermission.Read), check);
    }

    [Fact]
    public void GetSignedUrl_BaseUrlWithPath_KeepsThePathBase()
    {
        var options = TempFolder.Options(_root);
        options.PublicBaseUrl = new Uri("http://localhost:5080/autobuilder/");
        var store = new FileSystemBlobStore(options, _time);

        var signed = store.GetSignedUrl(new BlobRef("uploads", "p/s/source.zip"), BlobPermission.Write, TimeSpan.FromMinutes(5));

        Assert.StartsWith("http://localhost:5080/autobuilder/blobs/uploads/p/s/source.zip?sp=w&exp=", signed.Url.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public void GetSignedUrl_NonPositiveLifetime_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _store.GetSignedUrl(new BlobRef("uploads", "x"), BlobPermission.Read, TimeSpan.Zero));
    }

    private async Task<List<string>> ListPathsAsync(string container, string prefix)
    {
        var paths = new List<string>();
        await foreach (var item in _store.ListAsync(container, prefix))
        {
            paths.Add(item.Blob.Path);
        }

        return paths;
    }
}
