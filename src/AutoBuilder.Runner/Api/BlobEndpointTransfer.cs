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

    public async Task<Stream> OpenReadAsync(Uri signedUrl, string what, CancellationToken cancellationToken)
    {
        var response = await http.SendDataAsync(() => new HttpRequestMessage(HttpMethod.Get, signedUrl), what, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        try
        {
            return new ResponseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async Task<bool> CreateFileAsync(Uri signedUrl, string path, string sha256, string what, CancellationToken cancellationToken)
    {
        // The endpoint measures the hash itself; a create-only link answers 409 when the blob exists.
        using var response = await http.SendDataAsync(() =>
        {
            var content = new StreamContent(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, signedUrl) { Content = content };
        }, what, HttpCompletionOption.ResponseContentRead, cancellationToken, conflictIsAnswer: true).ConfigureAwait(false);
        return response.StatusCode != System.Net.HttpStatusCode.Conflict;
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

    /// <summary>The body of a response, which goes with it when disposed.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream body) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => body.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => body.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => body.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                body.Dispose();
                response.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
