using System.Net.Http.Headers;
using System.Net.Http.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Runner.Api;

/// <summary>
/// The runner's side of the protocol. Control calls carry the build token; signed URLs carry
/// nothing (the signature is the credential). Transient failures are retried (<see cref="RetryingHttpSender"/>);
/// 409 and 401/403 stop the runner at once. Signed URLs are spoken by the <see cref="ISignedUrlTransfer"/> of the
/// protocol the spec names (<see cref="RunnerSpec.BlobProtocol"/>), chosen once when the spec arrives.
/// </summary>
public sealed class RunnerApiClient
{
    private readonly RetryingHttpSender _http;
    private readonly Uri _apiUrl;
    private readonly string _buildId;
    private readonly string _token;
    private ISignedUrlTransfer _transfer;

    public RunnerApiClient(HttpClient http, Uri apiUrl, string buildId, string token, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(apiUrl);
        ArgumentNullException.ThrowIfNull(http);
        _http = new RetryingHttpSender(http, logger, timeProvider ?? TimeProvider.System);
        // A base without a trailing slash would drop its last segment when combined.
        _apiUrl = apiUrl.AbsoluteUri.EndsWith('/') ? apiUrl : new Uri(apiUrl.AbsoluteUri + "/");
        _buildId = buildId;
        _token = token;
        // Until a spec names another, signed URLs are the filesystem store's (as a spec without a protocol means).
        _transfer = TransferFor(BlobUrlProtocol.FileSystem);
    }

    public async Task<RunnerSpec> GetSpecAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => new HttpRequestMessage(HttpMethod.Get, Route(RunnerRoutes.Spec(_buildId))), "spec", cancellationToken).ConfigureAwait(false);
        var spec = await response.Content.ReadFromJsonAsync<RunnerSpec>(AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false)
            ?? throw new RunnerStoppedException("the API returned an empty spec");
        // Every signed URL of this build speaks the spec's protocol.
        _transfer = TransferFor(spec.BlobProtocol);
        return spec;
    }

    public async Task ReportPhaseAsync(BuildPhase phase, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.Phase(_buildId), new PhaseReport(phase)), "phase", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reports every step of the attempt as it stands; the API keeps the latest report.</summary>
    public async Task ReportStepsAsync(IReadOnlyList<BuildStep> steps, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.Steps(_buildId), new StepsReport(steps)), "steps", cancellationToken).ConfigureAwait(false);
    }

    public async Task<SignedLink> RequestUploadAsync(UploadRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.Uploads(_buildId), request), "uploads", cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<SignedLink>(AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false)
            ?? throw new RunnerStoppedException("the API returned an empty upload link");
    }

    public async Task CompleteAsync(CompleteRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.Complete(_buildId), request), "complete", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The archive to restore for the request's key, or null when the project has none under it (204).</summary>
    public async Task<CacheHit?> RestoreCacheAsync(CacheRestoreRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.CacheRestore(_buildId), request), "cache restore", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == System.Net.HttpStatusCode.NoContent
            ? null
            : await response.Content.ReadFromJsonAsync<CacheHit>(AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A create-only write URL for the key's archive, or the reason there is none.</summary>
    public async Task<CacheSaveGrant> SaveCacheAsync(CacheSaveRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.CacheSave(_buildId), request), "cache save", cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<CacheSaveGrant>(AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false)
            ?? throw new RunnerStoppedException("the API returned an empty cache save grant");
    }

    /// <summary>Registers the archive just created; null when it was, else the API's reason for refusing it (409).</summary>
    public async Task<string?> CommitCacheAsync(CacheCommitRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await _http.SendControlAllowingConflictAsync(() => Authorized(Json(RunnerRoutes.CacheCommit(_buildId), request)), "cache commit", cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode ? null : await RetryingHttpSender.ProblemReasonAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a signed URL's blob as a stream.</summary>
    public Task<Stream> OpenReadAsync(Uri signedUrl, string what, CancellationToken cancellationToken = default) =>
        _transfer.OpenReadAsync(signedUrl, what, cancellationToken);

    /// <summary>Creates the blob of a create-only URL from a file; false when it exists already.</summary>
    public Task<bool> CreateFileAsync(Uri signedUrl, string path, string sha256, string what, CancellationToken cancellationToken = default) =>
        _transfer.CreateFileAsync(signedUrl, path, sha256, what, cancellationToken);

    /// <summary>Streams a signed URL's blob to a file.</summary>
    public Task DownloadAsync(Uri signedUrl, string path, CancellationToken cancellationToken = default) =>
        _transfer.DownloadAsync(signedUrl, path, "source download", cancellationToken);

    /// <summary>Stores a file as the whole blob of a signed write URL, streamed.</summary>
    public Task UploadFileAsync(Uri signedUrl, string path, CancellationToken cancellationToken = default) =>
        _transfer.UploadFileAsync(signedUrl, path, $"upload of {Path.GetFileName(path)}", cancellationToken);

    /// <summary>Appends bytes to the build log through its signed append URL.</summary>
    public Task AppendLogAsync(Uri signedUrl, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) =>
        _transfer.AppendAsync(signedUrl, bytes, "log append", cancellationToken);

    private Uri Route(string relative) => new(_apiUrl, relative);

    private HttpRequestMessage Json<T>(string route, T body) =>
        new(HttpMethod.Post, Route(route)) { Content = JsonContent.Create(body, options: AutoBuilderJson.Options) };

    private Task<HttpResponseMessage> SendControlAsync(Func<HttpRequestMessage> create, string what, CancellationToken cancellationToken) =>
        _http.SendControlAsync(() => Authorized(create()), what, cancellationToken);

    private HttpRequestMessage Authorized(HttpRequestMessage message)
    {
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return message;
    }

    /// <summary>The one transfer per protocol; a protocol this runner does not speak fails the attempt.</summary>
    private ISignedUrlTransfer TransferFor(BlobUrlProtocol protocol) => protocol switch
    {
        BlobUrlProtocol.FileSystem => new BlobEndpointTransfer(_http),
        BlobUrlProtocol.AzureBlob => new AzureSasTransfer(),
        _ => throw new RunnerStoppedException($"the spec names blob protocol '{protocol}', which this runner does not speak"),
    };
}
