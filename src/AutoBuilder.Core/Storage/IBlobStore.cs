namespace AutoBuilder.Core.Storage;

/// <summary>
/// The system of record. Every operation streams: no implementation holds a whole blob in memory.
/// Implementations: FileSystem (default) and Azure Blob; one contract test suite runs against each.
/// A storage failure that outlasts the store's own retries is an <see cref="IOException"/> (Azure: <see cref="BlobStorageException"/>).
/// </summary>
public interface IBlobStore
{
    /// <summary>Creates the configured containers when missing.</summary>
    Task InitializeAsync(CancellationToken cancellationToken = default);

    /// <summary>Opens a blob for reading from <paramref name="offset"/>. Throws <see cref="BlobNotFoundException"/>.</summary>
    Task<Stream> OpenReadAsync(BlobRef blob, long offset = 0, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores <paramref name="content"/> as the whole blob. The blob becomes visible only when complete
    /// (a failed upload leaves nothing). With <paramref name="overwrite"/> false an existing blob is kept and
    /// <see cref="BlobAlreadyExistsException"/> is thrown (conditional create).
    /// </summary>
    Task<BlobUploadResult> UploadAsync(BlobRef blob, Stream content, bool overwrite, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a local file as the whole blob, taking ownership of it: the file is gone afterwards.
    /// A filesystem store moves it (no second copy); others upload it and delete it.
    /// </summary>
    Task<BlobUploadResult> ImportFileAsync(BlobRef blob, string localPath, bool overwrite, CancellationToken cancellationToken = default);

    /// <summary>Appends to the blob, creating it when missing. Returns the blob's new length.</summary>
    Task<long> AppendAsync(BlobRef blob, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Properties of a blob, or null when it does not exist.</summary>
    Task<BlobProperties?> GetPropertiesAsync(BlobRef blob, CancellationToken cancellationToken = default);

    /// <summary>Blobs of a container whose path starts with <paramref name="prefix"/>, in ordinal path order.</summary>
    IAsyncEnumerable<BlobItem> ListAsync(string container, string prefix, CancellationToken cancellationToken = default);

    /// <summary>Server-side copy. With <paramref name="overwrite"/> false an existing target throws <see cref="BlobAlreadyExistsException"/>.</summary>
    Task CopyAsync(BlobRef source, BlobRef target, bool overwrite, CancellationToken cancellationToken = default);

    /// <summary>Deletes a blob; false when it did not exist.</summary>
    Task<bool> DeleteAsync(BlobRef blob, CancellationToken cancellationToken = default);

    /// <summary>How a client speaks to this store's signed URLs (the runner picks its transfer code by it).</summary>
    BlobUrlProtocol UrlProtocol { get; }

    /// <summary>
    /// A URL that grants exactly <paramref name="permission"/> on exactly this blob until it expires. Asynchronous because
    /// a store may first have to fetch a signing key (Azure user-delegation SAS).
    /// </summary>
    ValueTask<SignedUrl> GetSignedUrlAsync(BlobRef blob, BlobPermission permission, TimeSpan lifetime, CancellationToken cancellationToken = default);

    /// <summary>True when the store answers (for /readyz).</summary>
    Task<bool> IsReachableAsync(CancellationToken cancellationToken = default);
}
