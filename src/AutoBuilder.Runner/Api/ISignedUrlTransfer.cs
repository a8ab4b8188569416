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

    /// <summary>Appends bytes to the blob of a signed append URL, creating it when missing.</summary>
    Task AppendAsync(Uri signedUrl, ReadOnlyMemory<byte> bytes, string what, CancellationToken cancellationToken);
}
