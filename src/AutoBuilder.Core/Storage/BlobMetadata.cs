namespace AutoBuilder.Core.Storage;

/// <summary>Metadata names a store keeps beside a blob, shared by the server's store and the runner's uploads.</summary>
public static class BlobMetadata
{
    /// <summary>The content hash (lower-case hex SHA-256) measured by whoever uploaded the blob.</summary>
    public const string Sha256 = "sha256";
}
