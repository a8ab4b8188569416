using AutoBuilder.Tests.Shared;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace AutoBuilder.EndToEnd.Tests.LegacyImport;

/// <summary>One real Azurite for the class; each test's data folder gets containers of its own on it.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteServer? _azurite;

    internal AzuriteServer Azurite => _azurite ?? throw new InvalidOperationException("Azurite is started in InitializeAsync.");

    public async Task InitializeAsync() => _azurite = await AzuriteServer.StartNewAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>The migration into Azure Blob storage (Storage:Provider=AzureBlob, the seed's connection-string variable), on Azurite.</summary>
public sealed class AzuriteMigrateTests(LegacyVolumeFixture fixture, AzuriteFixture azurite)
    : MigrateTests(fixture), IClassFixture<LegacyVolumeFixture>, IClassFixture<AzuriteFixture>
{
    private BlobServiceClient Service => new(azurite.Azurite.ConnectionString);

    protected override Task<IReadOnlyDictionary<string, string>> StoreSettingsAsync(string dataDirectory)
    {
        var settings = new Dictionary<string, string>
        {
            ["Storage:Provider"] = "AzureBlob",
            ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.Azurite.ConnectionString,
            ["AZURE_STORAGE_ACCOUNT_NAME"] = "",
        };
        foreach (var (key, container) in Containers(dataDirectory))
        {
            settings[$"Storage:Containers:{key}"] = container;
        }

        return Task.FromResult<IReadOnlyDictionary<string, string>>(settings);
    }

    protected override async Task CorruptBlobAsync(string dataDirectory, string container, string path)
    {
        var blob = Service.GetBlobContainerClient(Containers(dataDirectory)[Capitalised(container)]).GetBlobClient(path);
        var properties = (await blob.GetPropertiesAsync()).Value;
        var bytes = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        bytes[bytes.Length / 2] ^= 0xFF;
        // Same size and the same sha256 metadata: only re-reading the content can tell.
        await blob.UploadAsync(new BinaryData(bytes), new BlobUploadOptions { Metadata = properties.Metadata });
        Assert.Equal(properties.ContentLength, (await blob.GetPropertiesAsync()).Value.ContentLength);
    }

    protected override async Task<int> CountBlobsAsync(string dataDirectory)
    {
        var count = 0;
        foreach (var container in Containers(dataDirectory).Values)
        {
            var client = Service.GetBlobContainerClient(container);
            if (!await client.ExistsAsync())
            {
                continue;
            }

            await foreach (var _ in client.GetBlobsAsync())
            {
                count++;
            }
        }

        return count;
    }

    protected override async Task AssertStoreUntouchedAsync(string dataDirectory)
    {
        foreach (var container in Containers(dataDirectory).Values)
        {
            Assert.False(await Service.GetBlobContainerClient(container).ExistsAsync(), $"the dry run created container {container}");
        }
    }

    /// <summary>Container names of one data folder: a prefix from its path keeps the tests of this class apart on one Azurite.</summary>
    private static Dictionary<string, string> Containers(string dataDirectory)
    {
        var prefix = "m" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(dataDirectory)))[..10];
        return new Dictionary<string, string>
        {
            ["Uploads"] = $"{prefix}-uploads",
            ["Projects"] = $"{prefix}-projects",
            ["Artifacts"] = $"{prefix}-artifacts",
            ["Cache"] = $"{prefix}-cache",
        };
    }

    private static string Capitalised(string container) => char.ToUpperInvariant(container[0]) + container[1..];
}
