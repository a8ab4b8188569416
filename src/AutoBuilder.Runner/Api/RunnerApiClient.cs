using System.Net;
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
/// nothing (the signature is the credential). Transient failures are retried with a short
/// backoff; 409 and 401/403 stop the runner at once. Signed URLs are spoken in the protocol the
/// spec names (<see cref="RunnerSpec.BlobProtocol"/>): the filesystem store's (plain GET/PUT/POST,
/// here) or Azure Blob SAS (<see cref="AzureSasTransfer"/>).
/// </summary>
public sealed class RunnerApiClient
{
    private static readonly TimeSpan[] Backoff = [TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)];

    private readonly HttpClient _http;
    private readonly Uri _apiUrl;
    private readonly string _buildId;
    private readonly string _token;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private AzureSasTransfer? _azure;

    public RunnerApiClient(HttpClient http, Uri apiUrl, string buildId, string token, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(apiUrl);
        _http = http ?? throw new ArgumentNullException(nameof(http));
        // A base without a trailing slash would drop its last segment when combined.
        _apiUrl = apiUrl.AbsoluteUri.EndsWith('/') ? apiUrl : new Uri(apiUrl.AbsoluteUri + "/");
        _buildId = buildId;
        _token = token;
        _logger = logger;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public async Task<RunnerSpec> GetSpecAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => new HttpRequestMessage(HttpMethod.Get, Route(RunnerRoutes.Spec(_buildId))), "spec", cancellationToken).ConfigureAwait(false);
        var spec = await response.Content.ReadFromJsonAsync<RunnerSpec>(AutoBuilderJson.Options, cancellationToken).ConfigureAwait(false)
            ?? throw new RunnerStoppedException("the API returned an empty spec");
        // Every signed URL of this build speaks the spec's protocol.
        _azure = spec.BlobProtocol == BlobUrlProtocol.AzureBlob ? new AzureSasTransfer() : null;
        return spec;
    }

    public async Task ReportPhaseAsync(BuildPhase phase, CancellationToken cancellationToken = default)
    {
        using var response = await SendControlAsync(() => Json(RunnerRoutes.Phase(_buildId), new PhaseReport(phase)), "phase", cancellationToken).ConfigureAwait(false);
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

    /// <summary>Streams a signed URL's blob to a file.</summary>
    public async Task DownloadAsync(Uri signedUrl, string path, CancellationToken cancellationToken = default)
    {
        if (_azure is not null)
        {
            await _azure.DownloadAsync(signedUrl, path, "source download", cancellationToken).ConfigureAwait(false);
            return;
        }

        using var response = await SendDataAsync(() => new HttpRequestMessage(HttpMethod.Get, signedUrl), "source download", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true);
        await using (file.ConfigureAwait(false))
        {
            await response.Content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>PUTs a file to a signed URL, streamed.</summary>
    public async Task UploadFileAsync(Uri signedUrl, string path, CancellationToken cancellationToken = default)
    {
        if (_azure is not null)
        {
            await _azure.UploadFileAsync(signedUrl, path, $"upload of {Path.GetFileName(path)}", cancellationToken).ConfigureAwait(false);
            return;
        }

        using var response = await SendDataAsync(() =>
        {
            var content = new StreamContent(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, signedUrl) { Content = content };
        }, $"upload of {Path.GetFileName(path)}", HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Appends bytes to the build log through its signed append URL.</summary>
    public async Task AppendLogAsync(Uri signedUrl, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        if (_azure is not null)
        {
            await _azure.AppendAsync(signedUrl, bytes, cancellationToken).ConfigureAwait(false);
            return;
        }

        using var response = await SendDataAsync(() =>
        {
            var content = new ReadOnlyMemoryContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Post, signedUrl) { Content = content };
        }, "log append", HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    private Uri Route(string relative) => new(_apiUrl, relative);

    private HttpRequestMessage Json<T>(string route, T body) =>
        new(HttpMethod.Post, Route(route)) { Content = JsonContent.Create(body, options: AutoBuilderJson.Options) };

    private Task<HttpResponseMessage> SendControlAsync(Func<HttpRequestMessage> create, string what, CancellationToken cancellationToken) =>
        SendAsync(() =>
        {
            var message = create();
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            return message;
        }, what, control: true, HttpCompletionOption.ResponseContentRead, cancellationToken);

    private Task<HttpResponseMessage> SendDataAsync(Func<HttpRequestMessage> create, string what, HttpCompletionOption completion, CancellationToken cancellationToken) =>
        SendAsync(create, what, control: false, completion, cancellationToken);

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> create, string what, bool control, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            string failure;
            Exception? error = null;
            using (var request = create())
            {
                HttpResponseMessage? response = null;
                try
                {
                    response = await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
                }
                catch (HttpRequestException ex)
                {
                    error = ex;
                }
                catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    error = ex; // HttpClient's own timeout.
                }

                if (response is not null)
                {
                    if (response.IsSuccessStatusCode)
                    {
                        return response;
                    }

                    var status = response.StatusCode;
                    if (control && status == HttpStatusCode.BadRequest)
                    {
                        // The API refused what this build produced (a version, an artifact name): asking again gets the
                        // same answer, so the build fails once with the API's reason instead of being retried.
                        var reason = await ProblemReasonAsync(response, cancellationToken).ConfigureAwait(false);
                        response.Dispose();
                        throw new BuildFailureException($"{what}: the API refused it: {reason}");
                    }

                    response.Dispose();
                    if (control && status == HttpStatusCode.Conflict)
                    {
                        throw new RunnerStoppedException(RunnerExitCodes.Stale, $"{what}: the API answered 409: this attempt is stale or the build has ended");
                    }

                    if (control && status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    {
                        throw new RunnerStoppedException(RunnerExitCodes.Unauthorized, $"{what}: the API refused the build token ({(int)status})");
                    }

                    if (!IsTransient(status))
                    {
                        throw new RunnerStoppedException($"{what} failed: HTTP {(int)status} {status}");
                    }

                    failure = $"HTTP {(int)status} {status}";
                }
                else
                {
                    failure = error!.Message;
                }
            }

            if (attempt >= Backoff.Length)
            {
                throw new RunnerStoppedException(RunnerExitCodes.InfrastructureFailure, $"{what} failed after {attempt + 1} attempts: {failure}", error);
            }

            _logger.LogWarning("{What} failed ({Failure}); retrying in {Delay}", what, failure, Backoff[attempt]);
            await Task.Delay(Backoff[attempt], _timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>"title: detail" of a problem+json answer (bounded), else its status.</summary>
    private static async Task<string> ProblemReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            using var problem = System.Text.Json.JsonDocument.Parse(text.Length > 16_384 ? text[..16_384] : text);
            var root = problem.RootElement;
            var title = root.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
            return Printable.Of(string.Join(": ", new[] { title, detail }.Where(p => !string.IsNullOrEmpty(p))), 500);
        }
        catch (System.Text.Json.JsonException)
        {
            return $"HTTP {(int)response.StatusCode} {response.StatusCode}";
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}
