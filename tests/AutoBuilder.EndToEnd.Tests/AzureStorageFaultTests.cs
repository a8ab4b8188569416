using AutoBuilder.Core.Builds;
using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Tests.Shared;
using Azure.Storage.Blobs;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>Azure storage going away under a running build, and Azure settings that cannot work.</summary>
public sealed class AzureStorageFaultTests
{
    [Fact]
    public async Task Build_StorageDownWhilePublishing_FailsAsRetriedInfrastructureFailureNamingStorageAndLeavesNoResult()
    {
        var root = TestPaths.NewTempDirectory("azure-fault");
        var data = Path.Combine(root, "data");
        await using var azurite = await AzuriteServer.StartNewAsync();
        var server = await ServerProcess.StartAsync(
            data,
            new Dictionary<string, string>
            {
                ["Storage:Provider"] = "AzureBlob",
                ["Storage:Azure:MaxRetries"] = "1",
                ["Dispatcher:MaxAttempts"] = "2",
                // The build waits on a file the test drops in its project's shared cache folder.
                ["Caches:Mode"] = "Shared",
            },
            new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.ConnectionString, ["AZURE_STORAGE_ACCOUNT_NAME"] = "" });
        try
        {
            await StopStorageWhilePublishingAsync(azurite, server, data);
        }
        finally
        {
            await server.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task StopStorageWhilePublishingAsync(AzuriteServer azurite, ServerProcess server, string data)
    {
        using var client = server.CreateClient();
        // The build waits for a file in its project's cache folder, the one host folder a sandboxed build sees.
        var project = $"fault-{Guid.NewGuid():N}"[..20];
        var release = Path.Combine(data, "cache", "projects", project, "release-" + Guid.NewGuid().ToString("N"));
        var build = await ApiCalls.StartBuildAsync(client, project, new Dictionary<string, string>
        {
            ["build.sh"] = $"echo BUILD-WAITING\nwhile [ ! -e '{release}' ]; do sleep 0.1; done\nmkdir -p out && echo hi > out/hi.txt\n",
            ["autobuilder.yml"] = "outputs:\n  - out/**\n",
        });
        await WaitForLogAsync(client, build.Id, "BUILD-WAITING");

        await azurite.StopAsync();
        await File.WriteAllTextAsync(release, "go");
        var ended = await ApiCalls.WaitForEndAsync(client, build.Id);

        var diagnostics = $"{ended.Status}: {ended.Error}\n--- server output ---\n{server.Output}";
        if (ended.Status != BuildStatus.Failed || ended.Error is null
            || !ended.Error.Contains("Azure Blob Storage", StringComparison.Ordinal) || !ended.Error.Contains("gave up after 2 attempts", StringComparison.Ordinal))
        {
            Assert.Fail(diagnostics);
        }

        Assert.Equal(2, ended.Attempt);

        // Storage back (same port, same data): nothing half-written became visible.
        await azurite.StartAsync();
        var projects = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("projects");
        Assert.False(await projects.GetBlobClient($"{project}/builds/1/result.zip").ExistsAsync());
        Assert.True(await projects.GetBlobClient($"{project}/builds/1/logs/build.log").ExistsAsync());
    }

    [Theory]
    [InlineData("AzureBlob", "", "", "Storage:Azure:ConnectionString (or AZURE_STORAGE_CONNECTION_STRING)")]
    [InlineData("AzureBlob", "", "", "Storage:Azure:AccountName (or AZURE_STORAGE_ACCOUNT_NAME)")]
    [InlineData("AzureBlob", "this is not a connection string", "", "AZURE_STORAGE_CONNECTION_STRING) is malformed")]
    [InlineData("AzureBlob", "AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;SharedAccessSignature=sv=2020-08-04&sig=x", "", "has no AccountKey")]
    [InlineData("AzureBlob", "", "Not_An_Account!", "is not a storage account name")]
    [InlineData("S3", "", "", "Storage:Provider 'S3' is not supported")]
    public async Task Serve_BadStorageConfiguration_FailsAtStartNamingTheKey(string provider, string connectionString, string accountName, string expected)
    {
        var root = TestPaths.NewTempDirectory("azure-config");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(
            Path.Combine(root, "data"),
            new Dictionary<string, string> { ["Storage:Provider"] = provider },
            new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = connectionString, ["AZURE_STORAGE_ACCOUNT_NAME"] = accountName }));

        Assert.Contains("exited with code 2", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=x", error.Message, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }

    private static async Task WaitForLogAsync(HttpClient client, string buildId, string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (!(await ApiCalls.GetLogAsync(client, buildId)).Contains(text, StringComparison.Ordinal))
        {
            await Task.Delay(200, timeout.Token);
        }
    }
}
