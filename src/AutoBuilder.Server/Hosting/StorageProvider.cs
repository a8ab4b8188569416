namespace AutoBuilder.Server.Hosting;

/// <summary>Storage:Provider: where blobs live.</summary>
public enum StorageProvider
{
    /// <summary>A folder, {data}/blobs by default (the default).</summary>
    FileSystem,

    /// <summary>Azure Blob Storage (section "Storage:Azure").</summary>
    AzureBlob,
}
