using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class AutoBuilderClientTests : IAsyncLifetime
{
    private FakeAutoBuilderServer _server = null!;
    private AutoBuilderClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeAutoBuilderServer.StartAsync();
        _client = AutoBuilderClient.Create(new ClientSettings(_server.Url, FakeAutoBuilderServer.ApiKey));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task PutProjectAsync_Allowed_SendsBearerKeyAndParsesProject()
    {
        var project = await _client.PutProjectAsync("demo");

        Assert.Equal("demo", project.Id);
        Assert.Contains(_server.Requests, r => r.Method == "PUT" && r.Path == "/api/v1/projects/demo" && r.Authorization == "Bearer test-key");
    }

    [Fact]
    public async Task PutProjectAsync_ServerAnswersProblem_ThrowsWithStatusTitleAndDetail()
    {
        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => _client.PutProjectAsync("forbidden"));

        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Equal("Project belongs to someone else", error.Title);
        Assert.Equal("Project 'forbidden' is owned by another user.", error.Detail);
    }

    [Fact]
    public async Task GetBuildAsync_WrongKey_ThrowsUnauthorized()
    {
        using var client = AutoBuilderClient.Create(new ClientSettings(_server.Url, "wrong"));

        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => client.GetBuildAsync(FakeAutoBuilderServer.BuildId));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
    }

    [Fact]
    public async Task GetBuildAsync_PlainTextError_DetailIsFirst500Characters()
    {
        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => _client.GetBuildAsync("plain-error"));

        Assert.Equal(HttpStatusCode.InternalServerError, error.StatusCode);
        Assert.Equal(new string('x', 500), error.Detail);
    }

    [Fact]
    public async Task UploadAndBuildAsync_ZipFile_StreamsExactBytesAsZipWithLengthAndQuery()
    {
        using var temp = new TempFolder();
        var zipPath = temp.Combine("source.zip");
        var bytes = new byte[300_000];
        Random.Shared.NextBytes(bytes);
        await File.WriteAllBytesAsync(zipPath, bytes);
        long reported = 0;

        await using (var file = File.OpenRead(zipPath))
        await using (var progress = new ProgressStream(file, total => reported = total))
        {
            var build = await _client.UploadAndBuildAsync("demo", progress, toolchain: "maven", command: "mvn -B package");
            Assert.Equal(7, build.Number);
        }

        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(_server.LastUpload!));
        Assert.Equal(bytes.Length, reported);
        var request = Assert.Single(_server.Requests, r => r.Method == "POST");
        Assert.Equal("application/zip", request.ContentType);
        Assert.Equal(bytes.Length, request.ContentLength);
        Assert.Equal("?toolchain=maven&command=mvn%20-B%20package", request.Query);
    }

    [Fact]
    public async Task CopyLogToAsync_Follow_WritesEveryChunkInOrder()
    {
        _server.LogChunks = ["one\n", "two [red]not markup[/]\n", "three\n"];
        using var output = new MemoryStream();

        var copied = await _client.CopyLogToAsync(FakeAutoBuilderServer.BuildId, output, follow: true);

        Assert.Equal("one\ntwo [red]not markup[/]\nthree\n", Encoding.UTF8.GetString(output.ToArray()));
        Assert.Equal(output.Length, copied);
        Assert.Contains(_server.Requests, r => r.Path.EndsWith("/log", StringComparison.Ordinal) && r.Query == "?follow=true");
    }

    [Fact]
    public async Task DownloadAsync_SignedUrl_SendsNoApiKeyAndReturnsSha256()
    {
        _server.Artifact = Encoding.UTF8.GetBytes("jar bytes");
        using var output = new MemoryStream();

        var sha256 = await _client.DownloadAsync(_server.BlobUrl("app.jar"), output);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_server.Artifact)), sha256);
        Assert.Equal(_server.Artifact, output.ToArray());
        var request = Assert.Single(_server.Requests, r => r.Path == "/blobs/app.jar");
        Assert.Equal("", request.Authorization);
    }

    [Fact]
    public async Task GetProjectsAsync_NothingListening_ThrowsConnectionErrorNamingTheUrl()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var url = new Uri($"http://127.0.0.1:{port}/");
        using var client = AutoBuilderClient.Create(new ClientSettings(url, "k"));

        var error = await Assert.ThrowsAsync<AutoBuilderConnectionException>(() => client.GetProjectsAsync());

        Assert.StartsWith($"cannot reach AutoBuilder at http://127.0.0.1:{port}/", error.Message, StringComparison.Ordinal);
    }
}
