using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AutoBuilder.Server.Api;

/// <summary>Probes: /healthz (the process answers), /readyz (the metadata store and the blob store answer).</summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", Live);
        app.MapGet("/readyz", ReadyAsync);
        return app;
    }

    private static ContentHttpResult Live() => TypedResults.Text("ok\n");

    private static async Task<Results<ContentHttpResult, ProblemHttpResult>> ReadyAsync(HttpContext context, AutoBuilderDbContext db, IBlobStore store)
    {
        var database = await TryAsync(() => db.Database.CanConnectAsync(context.RequestAborted));
        var blobs = await TryAsync(() => store.IsReachableAsync(context.RequestAborted));
        static string State(bool up) => up ? "ok" : "unreachable";
        return database && blobs
            ? TypedResults.Text("ready\n")
            : TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready",
                detail: $"metadata store: {State(database)}; blob store: {State(blobs)}",
                extensions: new Dictionary<string, object?> { ["metadataStore"] = State(database), ["blobStore"] = State(blobs) });
    }

    private static async Task<bool> TryAsync(Func<Task<bool>> probe)
    {
        try
        {
            return await probe();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false;
        }
    }
}
