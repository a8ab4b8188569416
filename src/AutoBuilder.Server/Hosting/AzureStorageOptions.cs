namespace AutoBuilder.Server.Hosting;

/// <summary>
/// Section "Storage:Azure". The seed's environment variables AZURE_STORAGE_CONNECTION_STRING and
/// AZURE_STORAGE_ACCOUNT_NAME are used when the keys here are not set.
/// </summary>
public sealed class AzureStorageOptions
{
    /// <summary>A connection string with the account key: service SAS links.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The account name alone: DefaultAzureCredential (managed / workload identity) and user-delegation SAS links.</summary>
    public string? AccountName { get; set; }

    /// <summary>The blob endpoint when it is not https://{AccountName}.blob.core.windows.net.</summary>
    public Uri? ServiceUri { get; set; }

    /// <summary>Retries of a transient storage failure (exponential backoff from 0.5 s up to MaxRetryDelay); defaults from <see cref="AutoBuilder.Core.Storage.BlobRetrySettings.Default"/>.</summary>
    public int MaxRetries { get; set; } = AutoBuilder.Core.Storage.BlobRetrySettings.Default.MaxRetries;

    public TimeSpan MaxRetryDelay { get; set; } = AutoBuilder.Core.Storage.BlobRetrySettings.Default.MaxDelay;

    /// <summary>How long one storage request may stall before it is retried.</summary>
    public TimeSpan NetworkTimeout { get; set; } = AutoBuilder.Core.Storage.BlobRetrySettings.Default.NetworkTimeout;
}
