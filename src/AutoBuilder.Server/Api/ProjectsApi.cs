using AutoBuilder.Core.Api;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/projects: projects, their sources and their builds.</summary>
public static class ProjectsApi
{
    public static RouteGroupBuilder MapProjectsApi(this RouteGroupBuilder api)
    {
        api.MapPut("/projects/{projectId}", async (string projectId, HttpContext context, BuildService builds) =>
        {
            var (project, created) = await builds.EnsureProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
            var dto = ToDto(project);
            return created ? Results.Created($"/api/v1/projects/{project.Id}", dto) : Results.Ok(dto);
        });

        api.MapGet("/projects", async (HttpContext context, AutoBuilderDbContext db) =>
        {
            var caller = Caller.From(context.User);
            var projects = await db.Projects.AsNoTracking()
                .Where(p => caller.IsAdmin || p.OwnerName == caller.Name)
                .OrderBy(p => p.Id).ToListAsync(context.RequestAborted);
            return Results.Ok(projects.Select(ToDto));
        });

        api.MapGet("/projects/{projectId}", async (string projectId, HttpContext context, BuildService builds) =>
            await builds.FindProjectAsync(Caller.From(context.User), projectId, context.RequestAborted) is { } project
                ? Results.Ok(ToDto(project))
                : ApiProblems.NotFound("Project", projectId));

        api.MapPost("/projects/{projectId}/sources", async (string projectId, HttpContext context, BuildService builds, SourceService sources) =>
        {
            var project = await builds.FindProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
            if (project is null)
            {
                return ApiProblems.NotFound("Project", projectId);
            }

            var source = await sources.UploadAsync(project.Id, RequestBodies.ZipBody(context), context.RequestAborted);
            return Results.Created($"/api/v1/projects/{project.Id}/sources/{source.Id}", ToDto(source));
        });

        // A JSON body names an uploaded source; a ZIP body uploads and builds in one call.
        api.MapPost("/projects/{projectId}/builds", async (string projectId, HttpContext context, BuildService builds, SourceService sources, AutoBuilderMetrics metrics) =>
        {
            var project = await builds.FindProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
            if (project is null)
            {
                return ApiProblems.NotFound("Project", projectId);
            }

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
            return Results.Accepted($"/api/v1/builds/{build.Id}", BuildService.ToDto(build));
        });

        api.MapGet("/projects/{projectId}/builds", async (string projectId, int? limit, HttpContext context, BuildService builds, AutoBuilderDbContext db) =>
        {
            var project = await builds.FindProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
            if (project is null)
            {
                return ApiProblems.NotFound("Project", projectId);
            }

            var take = Math.Clamp(limit ?? 50, 1, 500);
            var list = await db.Builds.AsNoTracking().Where(b => b.ProjectId == project.Id)
                .OrderByDescending(b => b.Number).Take(take).ToListAsync(context.RequestAborted);
            return Results.Ok(list.Select(BuildService.ToDto));
        });

        return api;
    }

    private static ProjectDto ToDto(ProjectEntity p) => new(p.Id, p.OwnerName, p.CreatedAt, p.LastBuildNumber);

    private static SourceDto ToDto(SourceEntity s) => new(s.Id, s.ProjectId, s.Size, s.Sha256, s.CreatedAt);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
