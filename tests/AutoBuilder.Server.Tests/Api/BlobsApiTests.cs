using System.Net;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Api;

/// <summary>/blobs/{container}/{path}, the filesystem store's signed links, on the real server (API role, in process).</summary>
public sealed class BlobsApiTests : IAsyncLifetime
{
    private readonly HttpClient _http = new();
    private InProcessServer _server = null!;

    public async Task InitializeAsync() => _server = await InProcessServer.StartAsync(ServerRole.Api);

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Put_CreateOnlyLinkTwice_SecondIs409AndTheFirstContentStays()
    {
        // The link a cache save gets (BlobPermission.Create): a second PUT, from a racing saver or a build that kept the
        // link, must not swap the archive the catalog registers.
        var store = _server.Services.GetRequiredService<IBlobStore>();
        var blob = _server.Services.GetRequiredService<BlobLayout>().CacheArchive("demo", "maven", "0123abcd");
        var signed = await store.GetSignedUrlAsync(blob, BlobPermission.Create, TimeSpan.FromHours(1));

        Assert.Equal(HttpStatusCode.Created, await PutAsync(signed.Url, "the first archive"));
        Assert.Equal(HttpStatusCode.Conflict, await PutAsync(signed.Url, "a poisoned archive"));

        Assert.Equal("the first archive", await File.ReadAllTextAsync(_server.BlobPath(blob.Container, blob.Path)));
    }

    private async Task<HttpStatusCode> PutAsync(Uri url, string body)
    {
        using var response = await _http.PutAsync(url, new StringContent(body));
        return response.StatusCode;
    }
}
