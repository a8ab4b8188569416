using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Tests.Shared;

/// <summary>
/// The real AutoBuilder server (API, and with <see cref="ServerRole.All"/> the dispatcher and local executor) running
/// in this process on a free loopback port, with its data and workspaces in a temp folder deleted on dispose.
/// Shared by the test projects as a linked source file.
/// </summary>
internal sealed class InProcessServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _root;

    private InProcessServer(WebApplication app, string root, string dataDirectory)
    {
        _app = app;
        _root = root;
        DataDirectory = dataDirectory;
        Url = app.Services.GetRequiredService<ServerAddress>().PublicUrl;
        AdminKey = File.ReadAllText(Path.Combine(dataDirectory, "admin.key")).Trim();
        Admin = Client(AdminKey);
    }

    public string DataDirectory { get; }

    public Uri Url { get; }

    public string AdminKey { get; }

    /// <summary>An HTTP client on <see cref="Url"/> sending the admin key.</summary>
    public HttpClient Admin { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Where the file-system blob store keeps a blob: {data}/blobs/{container}/{path}.</summary>
    public string BlobPath(string container, string path) => Path.Combine([DataDirectory, "blobs", container, .. path.Split('/')]);

    public static async Task<InProcessServer> StartAsync(ServerRole role = ServerRole.All, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "autobuilder-server-tests-" + Guid.NewGuid().ToString("N"));
        var data = Path.Combine(root, "data");
        var all = new Dictionary<string, string?>
        {
            ["Executor:WorkspaceRoot"] = Path.Combine(root, "workspaces"),
            ["Executor:RunnerExecutable"] = RunnerExecutable(),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        WebApplication? app = null;
        try
        {
            app = AutoBuilderServer.Build(new ServeRequest(data, "http://127.0.0.1:0", role, Settings: all));
            await app.InitializeAsync();
            await app.StartAsync();
            return new InProcessServer(app, root, data);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            DeleteQuietly(root);
            throw;
        }
    }

    /// <summary>An HTTP client on <see cref="Url"/> sending <paramref name="apiKey"/>.</summary>
    public HttpClient Client(string apiKey)
    {
        var client = new HttpClient { BaseAddress = Url };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>Creates a (non-admin) user's API key through the admin API.</summary>
    public async Task<string> CreateUserKeyAsync(string user)
    {
        using var response = await Admin.PostAsync(new Uri($"api/v1/users/{user}/keys", UriKind.Relative), null);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>Uploads a ZIP and starts a build of it (as admin unless another client is given).</summary>
    public async Task<BuildDto> StartBuildAsync(string projectId, byte[] zip, HttpClient? client = null)
    {
        client ??= Admin;
        using (var put = await client.PutAsync(new Uri($"api/v1/projects/{projectId}", UriKind.Relative), null))
        {
            put.EnsureSuccessStatusCode();
        }

        using var content = new ByteArrayContent(zip);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        using var response = await client.PostAsync(new Uri($"api/v1/projects/{projectId}/builds", UriKind.Relative), content);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<BuildDto>(AutoBuilderJson.Options))!;
    }

    public async Task<BuildDto> GetBuildAsync(string buildId) =>
        (await Admin.GetFromJsonAsync<BuildDto>(new Uri($"api/v1/builds/{buildId}", UriKind.Relative), AutoBuilderJson.Options))!;

    public Task<string> GetLogAsync(string buildId) => Admin.GetStringAsync(new Uri($"api/v1/builds/{buildId}/log", UriKind.Relative));

    /// <summary>Follows the build's log until the server ends it (the build is over), then returns the build.</summary>
    public async Task<BuildDto> WaitForEndAsync(string buildId)
    {
        await Admin.GetStringAsync(new Uri($"api/v1/builds/{buildId}/log?follow=true", UriKind.Relative));
        return await GetBuildAsync(buildId);
    }

    /// <summary>Waits until the build has reached <paramref name="status"/> (or ended otherwise, which the caller then sees).</summary>
    public async Task<BuildDto> WaitForStatusAsync(string buildId, BuildStatus status)
    {
        while (true)
        {
            var build = await GetBuildAsync(buildId);
            if (build.Status == status || build.Status.IsTerminal())
            {
                return build;
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
            DeleteQuietly(_root);
        }
    }

    /// <summary>
    /// The dispatcher starts `autobuilder runner` as a child process. In a test host the server's own executable is
    /// the test host, so point it at the real CLI, whose apphost a project referencing AutoBuilder.Cli has next to
    /// its assemblies. (Without it, as in a project that runs only the API, the setting stays unset.)
    /// </summary>
    private static string? RunnerExecutable()
    {
        var appHost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "autobuilder.exe" : "autobuilder");
        return File.Exists(appHost) ? appHost : null;
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a runner child may still be letting go of its workspace.
        }
    }
}
