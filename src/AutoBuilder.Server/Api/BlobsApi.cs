using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Api;

/// <summary>
/// /blobs/{container}/{path}: the filesystem store's signed URLs, served without an API key. The signature
/// grants one permission on one blob until it expires: GET/HEAD read (with ranges), PUT write (or create only: 409
/// when the blob exists), POST append.
/// </summary>
public static class BlobsApi
{
    private const long MaxAppendBytes = 16 * 1024 * 1024;

    public static IEndpointRouteBuilder MapBlobsApi(this IEndpointRouteBuilder app)
    {
        var blobs = app.MapGroup("/blobs/{container}/{**path}");
        blobs.MapMethods("", [HttpMethods.Get, HttpMethods.Head], Read);
        blobs.MapPut("", WriteAsync);
        blobs.MapPost("", AppendAsync);
        return app;
    }

    /// <summary>What an append answers: the blob's length after it.</summary>
    public sealed record Appended(long Length);

    private static Results<PhysicalFileHttpResult, ProblemHttpResult> Read(string container, string path, HttpContext context, FileSystemBlobStore store, TimeProvider time)
    {
        var blob = new BlobRef(container, path);
        if (Check(context, store, blob, BlobPermission.Read, time) is { } refused)
        {
            return refused;
        }

        var file = store.GetLocalPath(blob);
        return File.Exists(file)
            ? TypedResults.PhysicalFile(file, "application/octet-stream", fileDownloadName: Path.GetFileName(file), enableRangeProcessing: true)
            : ApiProblems.Problem(StatusCodes.Status404NotFound, "Blob not found", "The signed link is valid but its blob does not exist.");
    }

    private static async Task<Results<Created<BlobUploadResult>, ProblemHttpResult>> WriteAsync(
        string container, string path, HttpContext context, FileSystemBlobStore store, IOptions<UploadOptions> uploads, TimeProvider time)
    {
        var blob = new BlobRef(container, path);
        var createOnly = Granted(context, store, blob, time) == BlobPermission.Create;
        if (!createOnly && Check(context, store, blob, BlobPermission.Write, time) is { } refused)
        {
            return refused;
        }

        RequestBodies.LimitBody(context, uploads.Value.MaxBytes);
        try
        {
            var result = await store.UploadAsync(blob, context.Request.Body, overwrite: !createOnly, context.RequestAborted);
            return TypedResults.Created((string?)null, result);
        }
        catch (BlobAlreadyExistsException)
        {
            return ApiProblems.Problem(StatusCodes.Status409Conflict, "Blob exists", "This link creates its blob only when it does not exist yet, and it does.");
        }
    }

    /// <summary>The permission a valid link grants on this blob now; null when the link is not valid.</summary>
    private static BlobPermission? Granted(HttpContext context, FileSystemBlobStore store, BlobRef blob, TimeProvider time)
    {
        var query = context.Request.Query;
        try
        {
            var check = store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], time.GetUtcNow());
            return check.IsValid ? check.Permission : null;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static async Task<Results<Ok<Appended>, ProblemHttpResult>> AppendAsync(
        string container, string path, HttpContext context, FileSystemBlobStore store, IOptions<BuildOptions> builds, IOptions<DispatcherOptions> dispatcher, TimeProvider time)
    {
        var blob = new BlobRef(container, path);
        if (Check(context, store, blob, BlobPermission.Append, time) is { } refused)
        {
            return refused;
        }

        // Only build logs are appended to: a log never grows past the cap, whoever holds its link.
        var cap = builds.Value.LogAppendCap(dispatcher.Value.MaxAttempts);
        var room = cap - ((await store.GetPropertiesAsync(blob, context.RequestAborted))?.Size ?? 0);
        if (room <= 0)
        {
            return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "Log too large", $"This log holds {cap} bytes, the most it may (Builds:MaxLogBytes).");
        }

        RequestBodies.LimitBody(context, Math.Min(MaxAppendBytes, room));
        var length = await store.AppendAsync(blob, context.Request.Body, context.RequestAborted);
        return TypedResults.Ok(new Appended(length));
    }

    /// <summary>Null when the link grants <paramref name="needed"/> on this blob now; else the 403 that says why.</summary>
    private static ProblemHttpResult? Check(HttpContext context, FileSystemBlobStore store, BlobRef blob, BlobPermission needed, TimeProvider time)
    {
        var query = context.Request.Query;
        SignatureCheck check;
        try
        {
            check = store.Signer.Verify(blob, query["sp"], query["exp"], query["sig"], time.GetUtcNow());
            store.GetLocalPath(blob);
        }
        catch (ArgumentException)
        {
            check = SignatureCheck.Invalid;
        }

        return check.Status switch
        {
            SignatureStatus.Valid when check.Permission == needed => null,
            SignatureStatus.Valid => ApiProblems.Forbidden("Operation not allowed", $"This link does not allow {context.Request.Method}."),
            SignatureStatus.Expired => ApiProblems.Forbidden("Link expired", "This signed link has expired; ask the API for a new one."),
            _ => ApiProblems.Forbidden("Invalid signature", "This link's signature does not match its blob, permission and expiry."),
        };
    }
}
