using System.Net;
using AutoBuilder.Core.Storage;
using AutoBuilder.Tests.Shared;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;

namespace AutoBuilder.Storage.Tests;

/// <summary>One Azurite for every Azure storage test class that uses it; fails (never skips) when Azurite cannot start.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteServer? _server;

    internal AzuriteServer Server => _server ?? throw new InvalidOperationException("Azurite is started in InitializeAsync.");

    public async Task InitializeAsync() => _server = await AzuriteServer.StartNewAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>The shared contract, run against <see cref="AzureBlobStore"/> on a real Azurite, with fresh containers per test.</summary>
public sealed class AzureBlobStoreContractTests(AzuriteFixture azurite) : BlobStoreContractTests, IClassFixture<AzuriteFixture>
{
    private static readonly HttpClient Http = new();
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];

    protected override ContainerNames Containers => field ??= new ContainerNames
    {
        Uploads = $"uploads-{_id}",
        Projects = $"projects-{_id}",
        Artifacts = $"artifacts-{_id}",
        Cache = $"cache-{_id}",
    };

    internal AzureBlobStoreOptions Options() => new()
    {
        ConnectionString = azurite.Server.ConnectionString,
        Containers = Containers,
    };

    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        var store = new AzureBlobStore(Options(), TimeProvider.System);
        await store.InitializeAsync();
        return store;
    }

    protected override async Task DeleteStoreAsync()
    {
        var service = new BlobServiceClient(azurite.Server.ConnectionString);
        foreach (var container in Containers.All)
        {
            await service.GetBlobContainerClient(container).DeleteIfExistsAsync();
        }
    }

    protected override IBlobStore CreateStoreWithClock(TimeProvider time) => new AzureBlobStore(Options(), time);

    [Fact]
    public async Task UploadAsync_OverStagedBlocksOfADeadUpload_CreatesTheBlob()
    {
        // What an upload killed after staging a block leaves behind: an uncommitted blob, invisible to readers.
        var blob = Blob("p/staged-leftover.zip");
        var client = new BlobServiceClient(azurite.Server.ConnectionString)
            .GetBlobContainerClient(Containers.Projects).GetBlockBlobClient(blob.Path);
        using (var leftover = new MemoryStream(new byte[1024]))
        {
            // Block ids shaped like the store's own ({upload id}-{index}); a blob's uncommitted ids must share one length.
            var blockId = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes($"{Guid.NewGuid():N}-000000"));
            await client.StageBlockAsync(blockId, leftover);
        }

        Assert.Null(await Store.GetPropertiesAsync(blob));

        await UploadTextAsync(blob, "complete");

        Assert.Equal("complete", await ReadTextAsync(blob));
        await Assert.ThrowsAsync<BlobAlreadyExistsException>(() => UploadTextAsync(blob, "second"));
    }

    /// <summary>A plain Put Blob against Azurite, which checks the SAS and what its permissions allow.</summary>
    protected override async Task<HttpStatusCode> PutSignedAsync(Uri url, byte[] body)
    {
        Assert.Equal(azurite.Server.Port, url.Port);
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new ByteArrayContent(body) };
        request.Headers.Add("x-ms-blob-type", "BlockBlob");
        using var response = await Http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Forbidden)
        {
            // Refused for what the link allows, not for a bad signature.
            Assert.Equal("AuthorizationPermissionMismatch", response.Headers.GetValues("x-ms-error-code").Single());
        }

        return response.StatusCode;
    }

    /// <summary>Azure refuses a Create-only SAS the write of an existing blob as a permission it lacks.</summary>
    protected override HttpStatusCode CreateOverExistingStatus => HttpStatusCode.Forbidden;

    /// <summary>A plain HTTP GET against Azurite, which validates the SAS signature, permissions and expiry.</summary>
    protected override async Task<(HttpStatusCode Status, byte[] Body)> GetSignedAsync(Uri url)
    {
        Assert.Equal(azurite.Server.Port, url.Port);
        using var response = await Http.GetAsync(url);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync());
    }
}
