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
