using System.Net;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Storage.Tests;

/// <summary>The shared contract, run against <see cref="FileSystemBlobStore"/> on a fresh temp folder.</summary>
public sealed class FileSystemBlobStoreContractTests : BlobStoreContractTests
{
    private readonly TempFolder _folder = new();

    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        var store = new FileSystemBlobStore(TempFolder.Options(_folder.Path), TimeProvider.System);
        await store.InitializeAsync();
        return store;
    }

    protected override Task DeleteStoreAsync()
    {
        _folder.Dispose();
        return Task.CompletedTask;
    }

    protected override IBlobStore CreateStoreWithClock(TimeProvider time) => new FileSystemBlobStore(TempFolder.Options(_folder.Path), time);

    /// <summary>What the API's /blobs endpoint does with a GET: the store's signer checks the link, then the file is served.</summary>
    protected override async Task<(HttpStatusCode Status, byte[] Body)> GetSignedAsync(Uri url)
    {
        var store = (FileSystemBlobStore)Store;
        var (blob, query) = Parse(url);
        var check = store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], TimeProvider.System.GetUtcNow());
        if (check.Status != SignatureStatus.Valid || check.Permission != BlobPermission.Read)
        {
            return (HttpStatusCode.Forbidden, []);
        }

        return (HttpStatusCode.OK, await File.ReadAllBytesAsync(store.GetLocalPath(blob)));
    }

    /// <summary>
    /// What the API's /blobs endpoint does with a PUT: a Create link uploads without overwriting (409 when the blob
    /// exists), a Write link overwrites, anything else is refused. (BlobsApiTests runs the real endpoint.)
    /// </summary>
    protected override async Task<HttpStatusCode> PutSignedAsync(Uri url, byte[] body)
    {
        var store = (FileSystemBlobStore)Store;
        var (blob, query) = Parse(url);
        var check = store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], TimeProvider.System.GetUtcNow());
        if (!check.IsValid || check.Permission is not (BlobPermission.Create or BlobPermission.Write))
        {
            return HttpStatusCode.Forbidden;
        }

        try
        {
            await store.UploadAsync(blob, new MemoryStream(body), overwrite: check.Permission == BlobPermission.Write);
            return HttpStatusCode.Created;
        }
        catch (BlobAlreadyExistsException)
        {
            return HttpStatusCode.Conflict;
        }
    }

    private static (BlobRef Blob, System.Collections.Specialized.NameValueCollection Query) Parse(Uri url)
    {
        const string prefix = "/blobs/";
        Assert.StartsWith(prefix, url.AbsolutePath, StringComparison.Ordinal);
        var rest = url.AbsolutePath[prefix.Length..].Split('/', 2);
        var blob = new BlobRef(Uri.UnescapeDataString(rest[0]), string.Join('/', rest[1].Split('/').Select(Uri.UnescapeDataString)));
        return (blob, System.Web.HttpUtility.ParseQueryString(url.Query));
    }
}

/// <summary>A fresh temp folder, deleted with everything in it on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "autobuilder-storage-tests", Guid.NewGuid().ToString("N"));

    public static byte[] Key { get; } = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    public static FileSystemBlobStoreOptions Options(string root) => new()
    {
        RootPath = root,
        PublicBaseUrl = new Uri("https://builds.example.com/"),
        SigningKey = Key,
    };

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
