using AutoBuilder.Core.Storage;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Storage".</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    public const string FileSystemProvider = "FileSystem";
    public const string AzureBlobProvider = "AzureBlob";

    /// <summary>FileSystem (default: blobs under {data}/blobs) or AzureBlob.</summary>
    public string Provider { get; set; } = FileSystemProvider;

    public ContainerNames Containers { get; set; } = new();

    /// <summary>Section "Storage:Azure", used when <see cref="Provider"/> is AzureBlob.</summary>
    public AzureStorageOptions Azure { get; set; } = new();

    /// <summary>Key for signed URLs and build tokens (base64, ≥ 32 bytes); default: generated once into {data}/signing.key.</summary>
    public string? SigningKey { get; set; }
}
