using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Cli.Client;

/// <summary>
/// Typed client of the AutoBuilder HTTP API v1. Every /api call carries <c>Authorization: Bearer</c>; signed
/// download URLs are fetched with a plain GET and never see the API key. Uploads, downloads and logs are streamed.
/// Errors: <see cref="AutoBuilderApiException"/> for an HTTP error answer, <see cref="AutoBuilderConnectionException"/>
/// when the host cannot be reached.
/// </summary>
public sealed class AutoBuilderClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttpClient;
    private readonly Uri _server;
    private readonly string _apiKey;

    /// <param name="httpClient">Used as is; its BaseAddress and default headers are ignored (the key is sent per request).</param>
    /// <param name="server">The server's address; routes are resolved relative to it.</param>
    public AutoBuilderClient(HttpClient httpClient, Uri server, string apiKey)
        : this(httpClient, server, apiKey, ownsHttpClient: false)
    {
    }

    private AutoBuilderClient(HttpClient httpClient, Uri server, string apiKey, bool ownsHttpClient)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        _http = httpClient;
        _ownsHttpClient = ownsHttpClient;
        _server = server.AbsolutePath.EndsWith('/') ? server : new Uri(server.GetLeftPart(UriPartial.Path) + "/");
        _apiKey = apiKey;
    }

    public Uri Server => _server;

    /// <summary>A client with its own HttpClient: no overall timeout (uploads and followed logs are long), 15 s to connect.</summary>
    public static AutoBuilderClient Create(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(15),
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        var http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("autobuilder-cli", typeof(AutoBuilderClient).Assembly.GetName().Version?.ToString() ?? "0"));
        return new AutoBuilderClient(http, settings.Server, settings.ApiKey, ownsHttpClient: true);
    }

    /// <summary>PUT api/v1/projects/{projectId}: creates the project or returns the existing one.</summary>
    public Task<ProjectDto> PutProjectAsync(string projectId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<ProjectDto>(HttpMethod.Put, ApiRoutes.Project(RequireProjectId(projectId)), content: null, cancellationToken);

    /// <summary>GET api/v1/projects.</summary>
    public async Task<IReadOnlyList<ProjectDto>> GetProjectsAsync(CancellationToken cancellationToken = default) =>
        await SendJsonAsync<ProjectDto[]>(HttpMethod.Get, ApiRoutes.Projects, content: null, cancellationToken);

    /// <summary>POST api/v1/projects/{projectId}/sources with the ZIP streamed as the body.</summary>
    public Task<SourceDto> UploadSourceAsync(string projectId, Stream zip, CancellationToken cancellationToken = default) =>
        SendJsonAsync<SourceDto>(HttpMethod.Post, ApiRoutes.Sources(RequireProjectId(projectId)), ZipContent(zip), cancellationToken);

    /// <summary>POST api/v1/projects/{projectId}/builds with a JSON <see cref="CreateBuildRequest"/>.</summary>
    public Task<BuildDto> CreateBuildAsync(string projectId, CreateBuildRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendJsonAsync<BuildDto>(
            HttpMethod.Post,
            ApiRoutes.ProjectBuilds(RequireProjectId(projectId)),
            JsonContent.Create(request, options: AutoBuilderJson.Options),
            cancellationToken);
    }

    /// <summary>POST api/v1/projects/{projectId}/builds with the ZIP as the body: upload and build in one call.</summary>
    public Task<BuildDto> UploadAndBuildAsync(string projectId, Stream zip, string? toolchain = null, string? command = null, CancellationToken cancellationToken = default)
    {
        var query = new List<string>();
        if (!string.IsNullOrEmpty(toolchain))
        {
            query.Add("toolchain=" + Uri.EscapeDataString(toolchain));
        }

        if (!string.IsNullOrEmpty(command))
        {
            query.Add("command=" + Uri.EscapeDataString(command));
        }

        var route = ApiRoutes.ProjectBuilds(RequireProjectId(projectId)) + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        return SendJsonAsync<BuildDto>(HttpMethod.Post, route, ZipContent(zip), cancellationToken);
    }

    /// <summary>GET api/v1/projects/{projectId}/builds, newest first.</summary>
    public async Task<IReadOnlyList<BuildDto>> GetBuildsAsync(string projectId, CancellationToken cancellationToken = default) =>
        await SendJsonAsync<BuildDto[]>(HttpMethod.Get, ApiRoutes.ProjectBuilds(RequireProjectId(projectId)), content: null, cancellationToken);

    /// <summary>GET api/v1/builds/{buildId}.</summary>
    public Task<BuildDto> GetBuildAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<BuildDto>(HttpMethod.Get, ApiRoutes.Build(EscapeId(buildId)), content: null, cancellationToken);

    /// <summary>
    /// GET api/v1/builds/{buildId}/log, copied to <paramref name="destination"/> chunk by chunk as it arrives
    /// (flushed after each), never buffered whole. With <paramref name="follow"/> it returns when the build ends.
    /// </summary>
    /// <returns>The number of bytes copied.</returns>
    public async Task<long> CopyLogToAsync(string buildId, Stream destination, bool follow = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var request = ApiRequest(HttpMethod.Get, ApiRoutes.BuildLog(EscapeId(buildId), follow));
        using var response = await SendAsync(request, _server, "cannot reach AutoBuilder at", cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await CopyAsync(body, destination, flushEachChunk: true, cancellationToken);
    }

    /// <summary>GET api/v1/builds/{buildId}/result: a signed link to result.zip (404 when the build has none).</summary>
    public Task<SignedLink> GetResultLinkAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<SignedLink>(HttpMethod.Get, ApiRoutes.BuildResult(EscapeId(buildId)), content: null, cancellationToken);

    /// <summary>GET api/v1/builds/{buildId}/artifacts, each with its own signed URL.</summary>
    public async Task<IReadOnlyList<ArtifactDto>> GetArtifactsAsync(string buildId, CancellationToken cancellationToken = default) =>
        await SendJsonAsync<ArtifactDto[]>(HttpMethod.Get, ApiRoutes.BuildArtifacts(EscapeId(buildId)), content: null, cancellationToken);

    /// <summary>POST api/v1/builds/{buildId}/cancel.</summary>
    public Task<BuildDto> CancelBuildAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<BuildDto>(HttpMethod.Post, ApiRoutes.CancelBuild(EscapeId(buildId)), content: null, cancellationToken);

    /// <summary>Starts a new build of the same source with the same settings; returns the new build.</summary>
    public Task<BuildDto> RerunBuildAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<BuildDto>(HttpMethod.Post, ApiRoutes.RerunBuild(EscapeId(buildId)), content: null, cancellationToken);

    /// <summary>POST api/v1/users/{name}/keys[?admin=true] (admin): a new key, shown this once.</summary>
    public Task<ApiKeyCreated> CreateKeyAsync(string userName, bool admin, CancellationToken cancellationToken = default) =>
        SendJsonAsync<ApiKeyCreated>(HttpMethod.Post, ApiRoutes.UserKeys(Uri.EscapeDataString(userName), admin), content: null, cancellationToken);

    /// <summary>GET api/v1/keys (admin): every key, without the secret.</summary>
    public async Task<IReadOnlyList<ApiKeyDto>> GetKeysAsync(CancellationToken cancellationToken = default) =>
        await SendJsonAsync<ApiKeyDto[]>(HttpMethod.Get, ApiRoutes.Keys, content: null, cancellationToken);

    /// <summary>DELETE api/v1/keys/{keyId} (admin): revokes the key at once.</summary>
    public Task<ApiKeyDto> RevokeKeyAsync(string keyId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<ApiKeyDto>(HttpMethod.Delete, ApiRoutes.Key(EscapeId(keyId)), content: null, cancellationToken);

    /// <summary>GET api/v1/projects/{projectId}/caches: the project's cache entries, most recently used first, with total and limit.</summary>
    public Task<CacheListDto> GetCachesAsync(string projectId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<CacheListDto>(HttpMethod.Get, ApiRoutes.ProjectCaches(RequireProjectId(projectId)), content: null, cancellationToken);

    /// <summary>DELETE api/v1/projects/{projectId}/caches/{cacheId} (204; 404 when the project has no such cache).</summary>
    public async Task DeleteCacheAsync(string projectId, string cacheId, CancellationToken cancellationToken = default)
    {
        using var request = ApiRequest(HttpMethod.Delete, ApiRoutes.ProjectCache(RequireProjectId(projectId), EscapeId(cacheId)));
        using var response = await SendAsync(request, _server, "cannot reach AutoBuilder at", cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
    }

    /// <summary>DELETE api/v1/projects/{projectId}/caches: deletes every cache entry of the project.</summary>
    public Task<CachesDeletedDto> DeleteCachesAsync(string projectId, CancellationToken cancellationToken = default) =>
        SendJsonAsync<CachesDeletedDto>(HttpMethod.Delete, ApiRoutes.ProjectCaches(RequireProjectId(projectId)), content: null, cancellationToken);

    /// <summary>
    /// Downloads a signed URL with a plain GET (no Authorization header: the URL may point at another host)
    /// into <paramref name="destination"/>, streaming, and returns the content's SHA-256 as lower-case hex.
    /// </summary>
    public async Task<string> DownloadAsync(Uri signedUrl, Stream destination, Action<long>? onProgress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signedUrl);
        ArgumentNullException.ThrowIfNull(destination);
        var url = signedUrl.IsAbsoluteUri ? signedUrl : new Uri(_server, signedUrl);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        using var response = await SendAsync(request, url, "cannot download from", cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            total += read;
            onProgress?.Invoke(total);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public void Dispose()
    {
        if (_ownsHttpClient)
        {
            _http.Dispose();
        }
    }

    private async Task<T> SendJsonAsync<T>(HttpMethod method, string route, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = ApiRequest(method, route);
        request.Content = content;
        using var response = await SendAsync(request, _server, "cannot reach AutoBuilder at", cancellationToken);
        await EnsureSuccessAsync(response, cancellationToken);
        try
        {
            var value = await response.Content.ReadFromJsonAsync<T>(AutoBuilderJson.Options, cancellationToken);
            return value ?? throw new AutoBuilderApiException(response.StatusCode, "Empty answer", $"{method} {route} answered without a body.");
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new AutoBuilderApiException(response.StatusCode, "Unexpected answer", $"{method} {route} answered with JSON the client does not understand: {ex.Message}");
        }
    }

    private HttpRequestMessage ApiRequest(HttpMethod method, string route)
    {
        var request = new HttpRequestMessage(method, new Uri(_server, route));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/problem+json"));
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, Uri host, string failure, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex) when (ex.StatusCode is null)
        {
            throw new AutoBuilderConnectionException($"{failure} {Describe(host)}: {ex.Message}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AutoBuilderConnectionException($"{failure} {Describe(host)}: the connection timed out.", ex);
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemDetailsReader.ReadAsync(response, cancellationToken);
        }
    }

    private static async Task<long> CopyAsync(Stream source, Stream destination, bool flushEachChunk, CancellationToken cancellationToken)
    {
        var buffer = new byte[1 << 14];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            if (flushEachChunk)
            {
                await destination.FlushAsync(cancellationToken);
            }

            total += read;
        }

        return total;
    }

    private static StreamContent ZipContent(Stream zip)
    {
        ArgumentNullException.ThrowIfNull(zip);
        var content = new StreamContent(zip, 1 << 16);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        return content;
    }

    /// <summary>Signed URLs carry their signature in the query: show scheme, host and path only.</summary>
    private static string Describe(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    private static string RequireProjectId(string projectId) =>
        Ids.IsValidProjectId(projectId)
            ? projectId
            : throw new ArgumentException($"'{projectId}' is not a valid project id ({ProjectIds.Rule}).", nameof(projectId));

    private static string EscapeId(string id)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return Uri.EscapeDataString(id);
    }
}
