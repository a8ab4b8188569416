namespace AutoBuilder.Core.Storage;

/// <summary>One blob: a container and a '/'-separated path inside it. Built by <see cref="BlobLayout"/>, never by hand.</summary>
public readonly record struct BlobRef(string Container, string Path)
{
    public override string ToString() => $"{Container}/{Path}";
}

/// <summary>What a signed URL allows on its single blob.</summary>
public enum BlobPermission
{
    Read,
    /// <summary>Create or replace the whole blob.</summary>
    Write,
    /// <summary>Append to the blob, creating it when missing (live logs).</summary>
    Append,
    /// <summary>Create the whole blob, never replace one: a write onto an existing blob is refused (cache archives, first writer wins).</summary>
    Create,
}

/// <summary>
/// The wire protocol of a store's signed URLs. <see cref="FileSystem"/>: the API's <c>/blobs/...</c> endpoint (GET read,
/// PUT write, POST append). <see cref="AzureBlob"/>: Azure Blob SAS URLs, spoken with the Azure REST protocol
/// (block blobs staged and committed, append blobs for logs).
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<BlobUrlProtocol>))]
public enum BlobUrlProtocol
{
    [System.Text.Json.Serialization.JsonStringEnumMemberName("fileSystem")] FileSystem,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("azureBlob")] AzureBlob,
}

/// <summary>Size, time and (when known) content hash of a stored blob.</summary>
public sealed record BlobProperties(long Size, DateTimeOffset LastModified, string? Sha256 = null);

/// <summary>A blob found by <see cref="IBlobStore.ListAsync"/>.</summary>
public sealed record BlobItem(BlobRef Blob, long Size, DateTimeOffset LastModified);

/// <summary>The result of a completed upload: what was stored, measured while streaming.</summary>
public sealed record BlobUploadResult(long Size, string Sha256);

/// <summary>A signed URL and the moment it stops working.</summary>
public sealed record SignedUrl(Uri Url, DateTimeOffset ExpiresAt);

public class BlobNotFoundException(BlobRef blob)
    : Exception($"Blob '{blob}' does not exist.")
{
    public BlobRef Blob { get; } = blob;
}

public class BlobAlreadyExistsException(BlobRef blob)
    : Exception($"Blob '{blob}' already exists and is not overwritten.")
{
    public BlobRef Blob { get; } = blob;
}

/// <summary>The storage itself failed (unreachable, refused, or broken) after the store's own retries. An I/O error on every backend.</summary>
public class BlobStorageException(string message, Exception? innerException = null) : IOException(message, innerException);
