using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Builds;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Server.Api;

/// <summary>
/// Turns every exception that reaches the pipeline into problem+json with a status that fits. It is the one place
/// where the services' domain errors become status codes.
/// </summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = exception switch
        {
            NotFoundException e => (StatusCodes.Status404NotFound, e.Title, e.Detail),
            ConflictException e => (StatusCodes.Status409Conflict, e.Title, e.Detail),
            InvalidInputException e => (StatusCodes.Status400BadRequest, e.Title, e.Detail),
            ApiException e => (e.Status, e.Title, e.Detail),
            BadHttpRequestException e when e.StatusCode == StatusCodes.Status413PayloadTooLarge =>
                (e.StatusCode, "Body too large", "The request body is larger than this endpoint accepts."),
            BadHttpRequestException e => (e.StatusCode, "Bad request", e.Message),
            BlobNotFoundException => (StatusCodes.Status404NotFound, "Not found", "The requested content does not exist."),
            // Storage that stayed unreachable through the store's retries: a temporary state the client can wait out.
            // The storage error itself (endpoint, account) goes to the log, not to the caller.
            BlobStorageException => (StatusCodes.Status503ServiceUnavailable, "Storage unavailable",
                "The blob storage could not be reached; try again shortly."),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => (499, "Client closed request", (string?)null),
            _ => (StatusCodes.Status500InternalServerError, "Internal error", "The server failed to handle the request; see its log."),
        };

        if (status >= 500)
        {
            logger.LogError(exception, "Unhandled error on {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
        }

        if (httpContext.Response.HasStarted || status == 499)
        {
            return true;
        }

        httpContext.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = "10";
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
