using AutoBuilder.Tests.Shared;
using Azure.Storage.Blobs;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The production stack as real processes: <see cref="ScaledDeploymentFixture"/> (two API and two dispatcher processes
/// on PostgreSQL) with its blobs on a real Azurite, configured through Storage:Azure:* as an operator would.
/// Azurite can be stopped and started again (same port, same data) to play a storage outage.
/// </summary>
public sealed class AzureScaledDeploymentFixture : ScaledDeploymentFixture
{
    private AzuriteServer? _azurite;

    internal AzuriteServer Azurite => _azurite ?? throw new InvalidOperationException("Azurite is started in InitializeAsync.");

    /// <summary>The storage account as an operator sees it (to check where blobs are).</summary>
    public BlobServiceClient Blobs => new(Azurite.ConnectionString);

    protected override IReadOnlyDictionary<string, string> StorageSettings => new Dictionary<string, string>
    {
        ["Storage:Provider"] = "AzureBlob",
        ["Storage:Azure:ConnectionString"] = Azurite.ConnectionString,
    };

    protected override async Task StartStorageAsync() => _azurite = await AzuriteServer.StartNewAsync();

    protected override async Task StopStorageAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>
/// The test classes that share one production stack. They run one after another: a storage outage or a 1 GiB
/// upload in one never overlaps another's builds or measurements.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ProductionStackCollection : ICollectionFixture<AzureScaledDeploymentFixture>
{
    public const string Name = "production stack";
}
