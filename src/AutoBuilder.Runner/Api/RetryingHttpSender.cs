using System.Net;
using AutoBuilder.Core;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Runner.Api;

/// <summary>
/// The runner's HTTP calls to the API, control and data alike: transient failures (network errors, HttpClient's own
/// timeout, 5xx, 408, 429) are retried with a short backoff. A control call's refusals stop at once: 400 fails the
/// build with the API's reason, 409 and 401/403 stop the runner.
/// </summary>
internal sealed class RetryingHttpSender(HttpClient http, ILogger logger, TimeProvider timeProvider)
{
    private static readonly TimeSpan[] Backoff = [TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)];

    /// <summary>A runner-protocol call; <paramref name="create"/> adds the build token.</summary>
    public Task<HttpResponseMessage> SendControlAsync(Func<HttpRequestMessage> create, string what, CancellationToken cancellationToken) =>
        SendAsync(create, what, control: true, HttpCompletionOption.ResponseContentRead, conflictIsAnswer: false, cancellationToken);

    /// <summary>
    /// A runner-protocol call whose 409 is an answer the caller reads (a cache commit that lost its race) rather than
    /// the end of the attempt; the caller gets the 409 response.
    /// </summary>
    public Task<HttpResponseMessage> SendControlAllowingConflictAsync(Func<HttpRequestMessage> create, string what, CancellationToken cancellationToken) =>
        SendAsync(create, what, control: true, HttpCompletionOption.ResponseContentRead, conflictIsAnswer: true, cancellationToken);

    /// <summary>A call to a signed URL of the API's blob endpoint (the signature is the credential).</summary>
    public Task<HttpResponseMessage> SendDataAsync(Func<HttpRequestMessage> create, string what, HttpCompletionOption completion, CancellationToken cancellationToken, bool conflictIsAnswer = false) =>
        SendAsync(create, what, control: false, completion, conflictIsAnswer, cancellationToken);

    private async Task<HttpResponseMessage> SendAsync(
        Func<HttpRequestMessage> create, string what, bool control, HttpCompletionOption completion, bool conflictIsAnswer, CancellationToken cancellationToken)
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
                    response = await http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
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
                    if (response.IsSuccessStatusCode || (conflictIsAnswer && response.StatusCode == HttpStatusCode.Conflict))
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

            logger.LogWarning("{What} failed ({Failure}); retrying in {Delay}", what, failure, Backoff[attempt]);
            await Task.Delay(Backoff[attempt], timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>"title: detail" of a problem+json answer (bounded), else its status.</summary>
    public static async Task<string> ProblemReasonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
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
