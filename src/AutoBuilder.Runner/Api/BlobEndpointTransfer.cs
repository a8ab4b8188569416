using System.Net.Http.Headers;
using AutoBuilder.Core.Storage;

namespace AutoBuilder.Runner.Api;

/// <summary>
/// <see cref="BlobUrlProtocol.FileSystem"/>: the API's <c>/blobs/...</c> endpoint, spoken in plain HTTP (GET read, PUT
/// write, POST append), streamed, with the runner's retries of transient failures.
/// </summary>
internal sealed class BlobEndpointTransfer(RetryingHttpSender http) : ISignedUrlTransfer
{
    public async Task DownloadAsync(Uri signedUrl, string path, string what, CancellationToken cancellationToken)
    {
        using var response = await http.SendDataAsync(() => new HttpRequestMessage(HttpMethod.Get, signedUrl), what, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true);
        await using (file.ConfigureAwait(false))
        {
            await response.Content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task UploadFileAsync(Uri signedUrl, string path, string what, CancellationToken cancellationToken)
    {
        using var response = await http.SendDataAsync(() =>
        {
            var content = new StreamContent(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, signedUrl) { Content = content };
        }, what, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    public async Task AppendAsync(Uri signedUrl, ReadOnlyMemory<byte> bytes, string what, CancellationToken cancellationToken)
    {
        using var response = await http.SendDataAsync(() =>
        {
            var content = new ReadOnlyMemoryContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Post, signedUrl) { Content = content };
        }, what, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }
}
