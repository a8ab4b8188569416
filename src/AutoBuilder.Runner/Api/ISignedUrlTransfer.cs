using AutoBuilder.Core.Storage;

namespace AutoBuilder.Runner.Api;

/// <summary>
/// Moves a build's data through its signed URLs, each for one blob; one implementation per <see cref="BlobUrlProtocol"/>
/// (<see cref="BlobEndpointTransfer"/>, <see cref="AzureSasTransfer"/>), chosen from the spec. A failure that
/// outlasts the transfer's own retries is a <see cref="RunnerStoppedException"/> naming <c>what</c> failed.
/// </summary>
internal interface ISignedUrlTransfer
{
    /// <summary>Streams the blob of a signed read URL to a file.</summary>
    Task DownloadAsync(Uri signedUrl, string path, string what, CancellationToken cancellationToken);

    /// <summary>Stores a file as the whole blob of a signed write URL.</summary>
    Task UploadFileAsync(Uri signedUrl, string path, string what, CancellationToken cancellationToken);

    /// <summary>Opens the blob of a signed read URL as a stream (restoring a cache without a temp file).</summary>
    Task<Stream> OpenReadAsync(Uri signedUrl, string what, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the blob of a signed create-only URL from a file, recording <paramref name="sha256"/> where the store keeps
    /// hashes; false when the blob exists (another writer was first), in which case nothing was changed.
    /// </summary>
    Task<bool> CreateFileAsync(Uri signedUrl, string path, string sha256, string what, CancellationToken cancellationToken);

    /// <summary>Appends bytes to the blob of a signed append URL, creating it when missing.</summary>
    Task AppendAsync(Uri signedUrl, ReadOnlyMemory<byte> bytes, string what, CancellationToken cancellationToken);
}
