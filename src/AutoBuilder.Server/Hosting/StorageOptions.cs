using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Storage".</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>Read when services are registered (<see cref="ConfigurationChoice"/>): it picks the blob store.</summary>
    public const string ProviderKey = $"{Section}:{nameof(Provider)}";

    public StorageProvider Provider { get; set; } = StorageProvider.FileSystem;

    public ContainerNames Containers { get; set; } = new();

    /// <summary>Section "Storage:Azure", used when <see cref="Provider"/> is AzureBlob.</summary>
    public AzureStorageOptions Azure { get; set; } = new();

    /// <summary>Key for signed URLs and build tokens (base64, ≥ 32 bytes); default: generated once into {data}/signing.key.</summary>
    public string? SigningKey { get; set; }
}
