using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Cli.Client;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.Cli.Tests.Client;

/// <summary>The client against the real AutoBuilder server (in process, with its dispatcher and real runners).</summary>
public sealed class AutoBuilderClientTests : IAsyncLifetime
{
    private readonly TempFolder _temp = new();
    private InProcessServer _server = null!;
    private AutoBuilderClient _client = null!;
    private string _key = null!;

    public async Task InitializeAsync()
    {
        _server = await InProcessServer.StartAsync();
        _key = await _server.CreateUserKeyAsync("alice");
        _client = AutoBuilderClient.Create(new ClientSettings(_server.Url, _key));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task PutProjectAsync_Allowed_CreatesTheProjectForTheKeysUser()
    {
        var project = await _client.PutProjectAsync("demo");

        Assert.Equal(("demo", "alice"), (project.Id, project.Owner));
        Assert.Equal("demo", Assert.Single(await _client.GetProjectsAsync()).Id);
    }

    [Fact]
    public async Task PutProjectAsync_ServerAnswersProblem_ThrowsWithStatusTitleAndDetail()
    {
        using (var bob = AutoBuilderClient.Create(new ClientSettings(_server.Url, await _server.CreateUserKeyAsync("bob"))))
        {
            await bob.PutProjectAsync("taken");
        }

        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => _client.PutProjectAsync("taken"));

        Assert.Equal(HttpStatusCode.Conflict, error.StatusCode);
        Assert.Equal("Project id not available", error.Title);
        Assert.Equal("The project id 'taken' is taken; choose another.", error.Detail);
    }

    [Fact]
    public async Task GetBuildAsync_WrongKey_ThrowsUnauthorized()
    {
        using var client = AutoBuilderClient.Create(new ClientSettings(_server.Url, "wrong"));

        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => client.GetBuildAsync("0123456789abcdef0123456789abcdef"));

        Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        Assert.Equal("Unauthorized", error.Title);
    }

    [Fact]
    public async Task GetBuildAsync_UnknownBuild_ThrowsNotFound()
    {
        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => _client.GetBuildAsync("ffffffffffffffffffffffffffffffff"));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.NotNull(error.Detail);
    }

    [Fact]
    public async Task UploadAndBuildAsync_NotAZip_ThrowsBadRequest()
    {
        using var body = new MemoryStream(Encoding.UTF8.GetBytes("not a zip at all"));
        await _client.PutProjectAsync("demo");

        var error = await Assert.ThrowsAsync<AutoBuilderApiException>(() => _client.UploadAndBuildAsync("demo", body));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
    }

    [Fact]
    public async Task UploadAndBuildAsync_ZipFile_StreamsExactBytesAndPassesToolchainAndCommand()
    {
        var zipPath = _temp.Combine("source.zip");
        using (var archive = ZipFile.Open(zipPath, ZipArchiveMode.Create))
        {
            WriteEntry(archive, "build.sh", "echo \"args: $*\"\n");
            var filler = new byte[300_000];
            Random.Shared.NextBytes(filler);
            WriteEntry(archive, "data.bin", Convert.ToBase64String(filler));
        }

        var bytes = await File.ReadAllBytesAsync(zipPath);
        long reported = 0;
        await _client.PutProjectAsync("demo");

        BuildDto build;
        await using (var file = File.OpenRead(zipPath))
        await using (var progress = new ProgressStream(file, total => reported = total))
        {
            build = await _client.UploadAndBuildAsync("demo", progress, toolchain: "script", command: "sh build.sh -B package");
            Assert.Equal(1, build.Number);
        }

        Assert.Equal(bytes.Length, reported);
        var stored = _server.BlobPath("uploads", $"demo/{build.SourceId}/source.zip");
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(await File.ReadAllBytesAsync(stored)));

        var done = await _server.WaitForEndAsync(build.Id);
        Assert.Equal(BuildStatus.Succeeded, done.Status);
        Assert.Equal(("script", "sh build.sh -B package"), (done.Toolchain, done.Command));
        Assert.Contains("args: -B package\n", await _server.GetLogAsync(build.Id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CopyLogToAsync_Follow_WritesEveryLineInOrderUntilTheBuildEnds()
    {
        var build = await BuildAsync("echo one; echo 'two [red]not markup[/]'; sleep 1; echo three");
        using var output = new MemoryStream();

        var copied = await _client.CopyLogToAsync(build.Id, output, follow: true);

        var log = Encoding.UTF8.GetString(output.ToArray());
        Assert.Contains("one\ntwo [red]not markup[/]\nthree\n", log, StringComparison.Ordinal);
        Assert.Contains("[autobuilder] outcome: succeeded\n", log, StringComparison.Ordinal);
        Assert.Equal(output.Length, copied);
        Assert.Equal(BuildStatus.Succeeded, (await _client.GetBuildAsync(build.Id)).Status);
        Assert.Equal(await _server.GetLogAsync(build.Id), log);
    }

    [Fact]
    public async Task DownloadAsync_SignedArtifactUrl_ReturnsBytesAndTheirSha256()
    {
        var build = await BuildAsync("mkdir -p out; printf 'jar bytes' > out/app.jar", "outputs: [out/**]\nartifacts: [out/app.jar]\nversion: 1.0.0\n");
        Assert.Equal(BuildStatus.Succeeded, (await _server.WaitForEndAsync(build.Id)).Status);
        var artifact = Assert.Single(await _client.GetArtifactsAsync(build.Id));
        using var output = new MemoryStream();

        using (var anonymous = AutoBuilderClient.Create(new ClientSettings(_server.Url, "no key: the signed link is enough")))
        {
            var sha256 = await anonymous.DownloadAsync(artifact.Url, output);
            Assert.Equal(artifact.Sha256, sha256);
        }

        Assert.Equal("jar bytes", Encoding.UTF8.GetString(output.ToArray()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(output.ToArray())), artifact.Sha256);
    }

    [Fact]
    public async Task DownloadAsync_SignedLinksOnAnotherHost_CarryNoApiKeyThere()
    {
        // A blob store's signed links may point at another host (a storage account, a CDN): the API key stays with the API.
        var build = await BuildAsync("mkdir -p out; printf 'jar bytes' > out/app.jar", "outputs: [out/**]\nartifacts: [out/app.jar]\nversion: 1.0.0\n");
        Assert.Equal(BuildStatus.Succeeded, (await _server.WaitForEndAsync(build.Id)).Status);
        var links = new[] { (await _client.GetResultLinkAsync(build.Id)).Url, Assert.Single(await _client.GetArtifactsAsync(build.Id)).Url };
        using var otherHost = new RecordingRelay(_server.Url);

        foreach (var link in links)
        {
            using var output = new MemoryStream();
            await _client.DownloadAsync(otherHost.Rebase(link), output);
            Assert.NotEqual(0, output.Length);
        }

        Assert.Equal(2, otherHost.Requests.Count);
        Assert.All(otherHost.Requests, headers =>
        {
            Assert.DoesNotContain("Authorization", headers.Keys, StringComparer.OrdinalIgnoreCase);
            Assert.DoesNotContain(headers.Values, v => v.Contains(_key, StringComparison.Ordinal));
        });
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

    private async Task<BuildDto> BuildAsync(string buildSh, string? yml = null)
    {
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            WriteEntry(archive, "build.sh", buildSh + "\n");
            if (yml is not null)
            {
                WriteEntry(archive, "autobuilder.yml", yml);
            }
        }

        zip.Position = 0;
        await _client.PutProjectAsync("demo");
        return await _client.UploadAndBuildAsync("demo", zip);
    }

    private static void WriteEntry(ZipArchive archive, string name, string content)
    {
        using var writer = new StreamWriter(archive.CreateEntry(name).Open());
        writer.Write(content);
    }
}

/// <summary>Another host (127.0.0.2) that records each request's headers and relays it to the real server.</summary>
internal sealed class RecordingRelay : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream = new();
    private readonly Uri _target;
    private readonly Uri _self;

    public RecordingRelay(Uri target)
    {
        _target = target;
        var probe = new TcpListener(IPAddress.Parse("127.0.0.2"), 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _self = new Uri($"http://127.0.0.2:{port}/");
        _listener.Prefixes.Add(_self.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public List<Dictionary<string, string>> Requests { get; } = [];

    /// <summary>The same path and query, on this host.</summary>
    public Uri Rebase(Uri link) => new(_self, link.PathAndQuery);

    public void Dispose()
    {
        _listener.Close();
        _upstream.Dispose();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            lock (Requests)
            {
                Requests.Add(context.Request.Headers.AllKeys.ToDictionary(k => k!, k => context.Request.Headers[k]!));
            }

            using var answer = await _upstream.GetAsync(new Uri(_target, context.Request.RawUrl));
            context.Response.StatusCode = (int)answer.StatusCode;
            var body = await answer.Content.ReadAsByteArrayAsync();
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }
}
