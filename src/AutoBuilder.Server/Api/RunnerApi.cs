using AutoBuilder.Core.Protocol;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Caches;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/runner/builds/{buildId}/...: the runner protocol, authenticated by the build token alone.</summary>
public static class RunnerApi
{
    public static RouteGroupBuilder MapRunnerApi(this RouteGroupBuilder api)
    {
        var runner = api.MapGroup("/runner/builds/{buildId}").AllowAnonymous().AddEndpointFilter(RequireBuildToken);

        runner.MapGet("/spec", GetSpecAsync);
        runner.MapPost("/phase", RecordPhaseAsync);
        runner.MapPost("/uploads", GrantUploadAsync);
        runner.MapPost("/complete", CompleteAsync);
        runner.MapPost("/caches/restore", RestoreCacheAsync);
        runner.MapPost("/caches/save", GrantCacheSaveAsync);
        runner.MapPost("/caches/commit", CommitCacheAsync);
        runner.MapPost("/steps", RecordStepsAsync);
        return api;
    }

    private static async Task<Ok<RunnerSpec>> GetSpecAsync(HttpContext context, RunnerService service)
    {
        var (buildId, attempt) = Attempt(context);
        return TypedResults.Ok(await service.GetSpecAsync(buildId, attempt, context.RequestAborted));
    }

    private static async Task<NoContent> RecordPhaseAsync(HttpContext context, RunnerService service)
    {
        var (buildId, attempt) = Attempt(context);
        var report = await RequestBodies.JsonAsync<PhaseReport>(context);
        await service.RecordPhaseAsync(buildId, attempt, report.Phase, context.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SignedLink>> GrantUploadAsync(HttpContext context, RunnerService service)
    {
        var (buildId, attempt) = Attempt(context);
        var request = await RequestBodies.JsonAsync<UploadRequest>(context);
        return TypedResults.Ok(await service.GrantUploadAsync(buildId, attempt, request, context.RequestAborted));
    }

    private static async Task<NoContent> CompleteAsync(HttpContext context, RunnerService service)
    {
        var (buildId, attempt) = Attempt(context);
        var request = await RequestBodies.JsonAsync<CompleteRequest>(context, CompleteBodyLimit(context));
        await service.CompleteAsync(buildId, attempt, request, context.RequestAborted);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<CacheHit>, NoContent>> RestoreCacheAsync(HttpContext context, RunnerService runners, CacheService caches)
    {
        var scope = await CacheScopeAsync(context, runners);
        var request = await RequestBodies.JsonAsync<CacheRestoreRequest>(context);
        return await caches.RestoreAsync(scope, request, context.RequestAborted) is { } hit ? TypedResults.Ok(hit) : TypedResults.NoContent();
    }

    private static async Task<Ok<CacheSaveGrant>> GrantCacheSaveAsync(HttpContext context, RunnerService runners, CacheService caches, CacheCatalog catalog)
    {
        var scope = await CacheScopeAsync(context, runners);
        var request = await RequestBodies.JsonAsync<CacheSaveRequest>(context);
        if (request.Unusable is { } unusable)
        {
            // The build's restore found that entry's archive broken: it goes (from the build's own project only) so the
            // save can replace it instead of hearing "saved already" for ever.
            await catalog.DeleteAsync(scope.ProjectId, unusable, context.RequestAborted);
        }

        return TypedResults.Ok(await caches.GrantSaveAsync(scope, request, context.RequestAborted));
    }

    private static async Task<NoContent> CommitCacheAsync(HttpContext context, RunnerService runners, CacheService caches, CacheCatalog catalog)
    {
        var scope = await CacheScopeAsync(context, runners);
        var request = await RequestBodies.JsonAsync<CacheCommitRequest>(context);
        var entryId = await caches.CommitAsync(scope, request, context.RequestAborted);
        // The project's limit holds after every save; the entry just saved is the most recently used, never evicted.
        await catalog.EnforceLimitAsync(scope.ProjectId, keep: entryId, context.RequestAborted);
        return TypedResults.NoContent();
    }

    /// <summary>The current attempt's build decides the project: a build reaches only its own project's caches.</summary>
    private static async Task<CacheScope> CacheScopeAsync(HttpContext context, RunnerService runners)
    {
        var (buildId, attempt) = Attempt(context);
        var build = await runners.RequireCurrentAsync(buildId, attempt, context.RequestAborted);
        return new CacheScope(build.ProjectId, build.Id);
    }
    private static async Task<NoContent> RecordStepsAsync(HttpContext context, RunnerService service)
    {
        var (buildId, attempt) = Attempt(context);
        var report = await RequestBodies.JsonAsync<StepsReport>(context, StepsBodyLimit(context));
        await service.RecordStepsAsync(buildId, attempt, report.Steps ?? [], context.RequestAborted);
        return TypedResults.NoContent();
    }

    /// <summary>A report of the most steps with the longest names is about 25 KB: never refused for Server:MaxJsonBytes alone.</summary>
    private static long StepsBodyLimit(HttpContext context) =>
        Math.Max(context.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value.MaxJsonBytes, 64 * 1024);

    /// <summary>
    /// complete lists every file of result.zip (path, size, SHA-256): a build publishing its 10,000-file source needs
    /// about 1.3 MB, far past Server:MaxJsonBytes. Allow ~512 bytes per entry an upload may hold.
    /// </summary>
    private static long CompleteBodyLimit(HttpContext context)
    {
        var services = context.RequestServices;
        var entries = services.GetRequiredService<IOptions<UploadOptions>>().Value.MaxEntries;
        return Math.Max(services.GetRequiredService<IOptions<ServerOptions>>().Value.MaxJsonBytes, 512L * entries);
    }

    /// <summary>The token must be genuine and name the build in the route; which attempt is current is the service's check (409).</summary>
    private static async ValueTask<object?> RequireBuildToken(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var tokens = context.RequestServices.GetRequiredService<BuildTokenService>();
        var verified = tokens.Verify(BearerToken.From(context.Request));
        if (verified is null)
        {
            return ApiProblems.Problem(StatusCodes.Status401Unauthorized, "Invalid build token", "Runner calls need the build token of a running build as a bearer token.");
        }

        if (verified.Value.BuildId != context.Request.RouteValues["buildId"] as string)
        {
            return ApiProblems.Forbidden("Wrong build", "This build token belongs to another build.");
        }

        context.Items[typeof(RunnerApi)] = verified.Value;
        return await next(invocation);
    }

    private static (string BuildId, int Attempt) Attempt(HttpContext context) => ((string, int))context.Items[typeof(RunnerApi)]!;
}
