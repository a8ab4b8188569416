using AutoBuilder.Core.Api;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/projects: projects, their sources, their builds and (<see cref="CachesApi"/>) their caches.</summary>
public static class ProjectsApi
{
    public static RouteGroupBuilder MapProjectsApi(this RouteGroupBuilder api)
    {
        var projects = api.MapGroup("/projects");
        projects.MapPut("/{projectId}", EnsureProjectAsync);
        projects.MapGet("", ListProjectsAsync);

        // Every endpoint here works on one project the caller may see; the filter answers 404 for any other id.
        var project = projects.MapGroup("/{projectId}")
            .AddEndpointFilter(OwnedResources.RequireProjectAsync)
            .ProducesProblem(StatusCodes.Status404NotFound);
        project.MapGet("", GetProject);
        project.MapPost("/sources", UploadSourceAsync);
        project.MapPost("/builds", CreateBuildAsync);
        project.MapGet("/builds", ListBuildsAsync);
        project.MapProjectCachesApi();
        return api;
    }

    /// <summary>Creates the project for the caller (201), or answers it when it is theirs already (200).</summary>
    private static async Task<Results<Created<ProjectDto>, Ok<ProjectDto>>> EnsureProjectAsync(string projectId, HttpContext context, BuildService builds)
    {
        var (project, created) = await builds.EnsureProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
        var dto = ToDto(project);
        return created ? TypedResults.Created($"/api/v1/projects/{project.Id}", dto) : TypedResults.Ok(dto);
    }

    private static async Task<Ok<IEnumerable<ProjectDto>>> ListProjectsAsync(HttpContext context, BuildService builds)
    {
        var projects = await builds.ListProjectsAsync(Caller.From(context.User), context.RequestAborted);
        return TypedResults.Ok(projects.Select(ToDto));
    }

    private static Ok<ProjectDto> GetProject(HttpContext context) => TypedResults.Ok(ToDto(OwnedResources.Project(context)));

    private static async Task<Created<SourceDto>> UploadSourceAsync(HttpContext context, SourceService sources)
    {
        var project = OwnedResources.Project(context);
        var source = await sources.UploadAsync(project.Id, RequestBodies.ZipBody(context), context.RequestAborted);
        return TypedResults.Created($"/api/v1/projects/{project.Id}/sources/{source.Id}", ToDto(source));
    }

    /// <summary>A JSON body names an uploaded source; a ZIP body uploads and builds in one call.</summary>
    private static async Task<Accepted<BuildDto>> CreateBuildAsync(HttpContext context, BuildService builds, SourceService sources, AutoBuilderMetrics metrics)
    {
        var project = OwnedResources.Project(context);
        BuildEntity build;
        if (RequestBodies.IsZip(context.Request))
        {
            var source = await sources.UploadAsync(project.Id, RequestBodies.ZipBody(context), context.RequestAborted);
            var query = context.Request.Query;
            build = await builds.CreateBuildAsync(project, source.Id, NullIfEmpty(query["toolchain"]), NullIfEmpty(query["command"]), context.RequestAborted);
        }
        else
        {
            var request = await RequestBodies.JsonAsync<CreateBuildRequest>(context);
            build = await builds.CreateBuildAsync(project, request.SourceId, request.Toolchain, request.Command, context.RequestAborted);
        }

        metrics.BuildQueued();
        return TypedResults.Accepted($"/api/v1/builds/{build.Id}", BuildService.ToDto(build));
    }

    /// <summary>Newest first; ?limit= takes 1–500 builds (default 50).</summary>
    private static async Task<Ok<IEnumerable<BuildDto>>> ListBuildsAsync(int? limit, HttpContext context, BuildService builds)
    {
        var list = await builds.ListBuildsAsync(OwnedResources.Project(context), limit, context.RequestAborted);
        return TypedResults.Ok(list.Select(b => BuildService.ToDto(b)));
    }

    private static ProjectDto ToDto(ProjectEntity p) => new(p.Id, p.OwnerName, p.CreatedAt, p.LastBuildNumber);

    private static SourceDto ToDto(SourceEntity s) => new(s.Id, s.ProjectId, s.Size, s.Sha256, s.CreatedAt);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
