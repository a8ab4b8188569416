using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Api;

/// <summary>
/// Route-group filters that resolve the route's {projectId} or {buildId} under ownership before an endpoint runs, so
/// every endpoint under /projects/{projectId} and /builds/{buildId} finds its resource the same way. Another user's id
/// answers exactly like an unknown one (<see cref="ApiProblems.NotFound"/>); the endpoint reads what was found with
/// <see cref="Project"/> or <see cref="Build"/>.
/// </summary>
public static class OwnedResources
{
    public static async ValueTask<object?> RequireProjectAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        if (ParameterBindingFailed(context))
        {
            return await next(invocation);
        }

        var projectId = RouteValue(context, "projectId");
        var project = await context.RequestServices.GetRequiredService<BuildService>()
            .FindProjectAsync(Caller.From(context.User), projectId, context.RequestAborted);
        if (project is null)
        {
            return ApiProblems.NotFound("Project", projectId);
        }

        context.Items[typeof(ProjectEntity)] = project;
        return await next(invocation);
    }

    public static async ValueTask<object?> RequireBuildAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        if (ParameterBindingFailed(context))
        {
            return await next(invocation);
        }

        var buildId = RouteValue(context, "buildId");
        var build = await context.RequestServices.GetRequiredService<BuildService>()
            .FindBuildAsync(Caller.From(context.User), buildId, context.RequestAborted);
        if (build is null)
        {
            return ApiProblems.NotFound("Build", buildId);
        }

        context.Items[typeof(BuildEntity)] = build;
        return await next(invocation);
    }

    /// <summary>The project <see cref="RequireProjectAsync"/> resolved for this request.</summary>
    public static ProjectEntity Project(HttpContext context) =>
        context.Items[typeof(ProjectEntity)] as ProjectEntity ?? throw new InvalidOperationException("The endpoint is not under the owned-project filter.");

    /// <summary>The build <see cref="RequireBuildAsync"/> resolved for this request.</summary>
    public static BuildEntity Build(HttpContext context) =>
        context.Items[typeof(BuildEntity)] as BuildEntity ?? throw new InvalidOperationException("The endpoint is not under the owned-build filter.");

    /// <summary>
    /// Filters run even when a parameter (e.g. ?follow=maybe) failed to bind; the framework has set 400 and answers it
    /// after the filters. Binding came before the lookup when each endpoint looked up for itself, so a bad parameter
    /// stays a 400 whatever the id is.
    /// </summary>
    private static bool ParameterBindingFailed(HttpContext context) => context.Response.StatusCode == StatusCodes.Status400BadRequest;

    private static string RouteValue(HttpContext context, string name) =>
        context.Request.RouteValues[name] as string ?? throw new InvalidOperationException($"The route has no {{{name}}}.");
}
