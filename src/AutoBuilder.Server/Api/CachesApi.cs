using AutoBuilder.Core.Api;
using AutoBuilder.Server.Caches;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/projects/{projectId}/caches: a project's keyed dependency caches, listed and deleted.</summary>
public static class CachesApi
{
    /// <summary>Maps the cache endpoints into a project's route group, under its owned-project filter.</summary>
    public static RouteGroupBuilder MapProjectCachesApi(this RouteGroupBuilder project)
    {
        project.MapGet("/caches", ListAsync);
        project.MapDelete("/caches", DeleteAllAsync);
        project.MapDelete("/caches/{cacheId}", DeleteAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return project;
    }

    private static async Task<Ok<CacheListDto>> ListAsync(HttpContext context, CacheCatalog caches)
    {
        var listing = await caches.ListAsync(OwnedResources.Project(context).Id, context.RequestAborted);
        return TypedResults.Ok(new CacheListDto([.. listing.Entries.Select(ToDto)], listing.TotalBytes, listing.LimitBytes));
    }

    private static async Task<Ok<CachesDeletedDto>> DeleteAllAsync(HttpContext context, CacheCatalog caches)
    {
        var deletion = await caches.DeleteAllAsync(OwnedResources.Project(context).Id, context.RequestAborted);
        return TypedResults.Ok(new CachesDeletedDto(deletion.Deleted, deletion.FreedBytes));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string cacheId, HttpContext context, CacheCatalog caches) =>
        await caches.DeleteAsync(OwnedResources.Project(context).Id, cacheId, context.RequestAborted) is not null
            ? TypedResults.NoContent()
            : ApiProblems.NotFound("Cache", cacheId);

    private static CacheEntryDto ToDto(CacheEntryEntity c) => new(c.Id, c.Toolchain, c.Key, c.Size, c.Sha256, c.CreatedAt, c.LastUsedAt, c.BuildId);
}
