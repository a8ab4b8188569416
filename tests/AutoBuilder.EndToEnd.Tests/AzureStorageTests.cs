using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Tests.Shared;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>A real `autobuilder serve` with Storage:Provider=AzureBlob on a real Azurite, configured by the seed's variable.</summary>
public sealed class AzureServerFixture : IAsyncLifetime
{
    private readonly string _root = TestPaths.NewTempDirectory("azure-server");
    private AzuriteServer? _azurite;
    private ServerProcess? _server;

    internal AzuriteServer Azurite => _azurite ?? throw new InvalidOperationException("Azurite is started in InitializeAsync.");

    public ServerProcess Server => _server ?? throw new InvalidOperationException("The server is started in InitializeAsync.");

    public BlobServiceClient Blobs => new(Azurite.ConnectionString);

    public async Task InitializeAsync()
    {
        _azurite = await AzuriteServer.StartNewAsync();
        _server = await ServerProcess.StartAsync(
            Path.Combine(_root, "data"),
            new Dictionary<string, string> { ["Storage:Provider"] = "AzureBlob" },
            new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = _azurite.ConnectionString, ["AZURE_STORAGE_ACCOUNT_NAME"] = "" });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A build's leftovers may still be going away; the temp folder is swept later.
        }
    }
}

public sealed class AzureStorageTests(AzureServerFixture fixture) : IClassFixture<AzureServerFixture>
{
    private static readonly HttpClient Anonymous = new();

    [Fact]
    public async Task Build_ScriptSample_StoresBlobsAtDesignPathsAndLinksGoStraightToAzurite()
    {
        var server = fixture.Server;
        var project = $"script-{Guid.NewGuid():N}"[..20];
        var output = TestPaths.NewTempDirectory("out");

        await CliProcess.BuildSampleAsync(server, "script-hello", project, output);
        using var client = server.CreateClient();
        var build = (await client.GetFromJsonAsync<BuildDto[]>(ApiRoutes.ProjectBuilds(project), AutoBuilderJson.Options))!.Single();
        Assert.Equal(BuildStatus.Succeeded, build.Status);

        // The blob layout of docs/ARCHITECTURE.md, in the default containers; the log is an append blob.
        var blobs = fixture.Blobs;
        Assert.True(await blobs.GetBlobContainerClient("uploads").GetBlobClient($"{project}/{build.SourceId}/source.zip").ExistsAsync());
        var projects = blobs.GetBlobContainerClient("projects");
        var log = await projects.GetBlobClient($"{project}/builds/1/logs/build.log").GetPropertiesAsync();
        Assert.Equal(BlobType.Append, log.Value.BlobType);
        Assert.True(log.Value.ContentLength > 0);
        Assert.Equal(BlobType.Block, (await projects.GetBlobClient($"{project}/builds/1/result.zip").GetPropertiesAsync()).Value.BlobType);
        var manifest = (await projects.GetBlobClient($"{project}/builds/1/result.json").DownloadContentAsync()).Value.Content.ToString();
        Assert.Contains("out/hello.txt", manifest, StringComparison.Ordinal);
        var promoted = new List<string>();
        await foreach (var item in blobs.GetBlobContainerClient("artifacts").GetBlobsAsync(new GetBlobsOptions { Prefix = $"{project}/1.0.0/" }))
        {
            promoted.Add(item.Name);
        }

        Assert.NotEmpty(promoted);

        // The CLI downloaded result.zip from Azurite.
        using (var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip")))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "out/hello.txt");
        }

        // The result link is a SAS URL on Azurite that works without an API key, and a tampered one does not.
        var link = (await client.GetFromJsonAsync<SignedLink>(ApiRoutes.BuildResult(build.Id), AutoBuilderJson.Options))!;
        Assert.Equal(fixture.Azurite.Port, link.Url.Port);
        Assert.StartsWith(fixture.Azurite.BlobEndpoint.AbsoluteUri + "/projects/", link.Url.AbsoluteUri, StringComparison.Ordinal);
        using (var download = await Anonymous.GetAsync(link.Url))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            using var zip = new ZipArchive(await download.Content.ReadAsStreamAsync());
            Assert.Contains(zip.Entries, e => e.FullName == "out/hello.txt");
        }

        using (var tampered = await Anonymous.GetAsync(new Uri(link.Url.AbsoluteUri.Replace("sig=", "sig=A", StringComparison.Ordinal))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
        }

        // Artifact links: the promoted (server-side copied) blobs, straight from Azurite, with the recorded hash.
        var artifacts = (await client.GetFromJsonAsync<ArtifactDto[]>(ApiRoutes.BuildArtifacts(build.Id), AutoBuilderJson.Options))!;
        Assert.NotEmpty(artifacts);
        foreach (var artifact in artifacts)
        {
            Assert.Equal(fixture.Azurite.Port, artifact.Url.Port);
            var bytes = await Anonymous.GetByteArrayAsync(artifact.Url);
            Assert.Equal(artifact.Sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
        }

        // The live log was read back from the append blob.
        Assert.Contains("[autobuilder]", await ApiCalls.GetLogAsync(client, build.Id), StringComparison.Ordinal);
        Directory.Delete(output, recursive: true);
    }

    [Fact]
    public async Task Build_MavenSample_PublishesItsJarThroughAzure()
    {
        var server = fixture.Server;
        var project = $"maven-{Guid.NewGuid():N}"[..20];
        var output = TestPaths.NewTempDirectory("out");

        await CliProcess.BuildSampleAsync(server, "maven-hello", project, output);
        var jar = fixture.Blobs.GetBlobContainerClient("artifacts").GetBlobClient($"{project}/1.0.0-SNAPSHOT/maven-hello-1.0.0-SNAPSHOT.jar");
        Assert.True(await jar.ExistsAsync());
        using (var zip = ZipFile.OpenRead(Path.Combine(output, "result.zip")))
        {
            Assert.Contains(zip.Entries, e => e.Name == "maven-hello-1.0.0-SNAPSHOT.jar");
        }

        Directory.Delete(output, recursive: true);
    }
}
