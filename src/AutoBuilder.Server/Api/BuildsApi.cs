using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/builds/{buildId}: state, log (live), result and artifact links, cancel.</summary>
public static class BuildsApi
{
    public static RouteGroupBuilder MapBuildsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/builds/{buildId}", async (string buildId, HttpContext context, BuildService builds) =>
            await builds.FindBuildAsync(Caller.From(context.User), buildId, context.RequestAborted) is { } build
                ? Results.Ok(BuildService.ToDto(build))
                : ApiProblems.NotFound("Build", buildId));

        api.MapGet("/builds/{buildId}/log", async (string buildId, bool? follow, HttpContext context, BuildService builds, LogStreamer logs) =>
        {
            var build = await builds.FindBuildAsync(Caller.From(context.User), buildId, context.RequestAborted);
            if (build is null)
            {
                return ApiProblems.NotFound("Build", buildId);
            }

            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await logs.StreamAsync(build, follow == true, context.Response.Body, context.RequestAborted);
            return Results.Empty;
        });

        api.MapGet("/builds/{buildId}/result", async (string buildId, HttpContext context, BuildService builds, IBlobStore store, BlobLayout layout, IOptions<DownloadLinkOptions> links) =>
        {
            var build = await builds.FindBuildAsync(Caller.From(context.User), buildId, context.RequestAborted);
            if (build is null)
            {
                return ApiProblems.NotFound("Build", buildId);
            }

            var lifetime = LinkLifetime(context.Request, links.Value);
            var blob = layout.BuildResult(build.ProjectId, build.Number);
            if (await store.GetPropertiesAsync(blob, context.RequestAborted) is null)
            {
                return ApiProblems.Problem(StatusCodes.Status404NotFound, "No result",
                    $"Build {build.Id} is {build.Status.ToWire()} and has no result.zip" + (build.Status.IsTerminal() ? "." : " yet."));
            }

            var signed = await store.GetSignedUrlAsync(blob, BlobPermission.Read, lifetime, context.RequestAborted);
            return Results.Ok(new SignedLink(signed.Url, signed.ExpiresAt));
        });

        api.MapGet("/builds/{buildId}/artifacts", async (string buildId, HttpContext context, BuildService builds, AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, IOptions<DownloadLinkOptions> links) =>
        {
            var build = await builds.FindBuildAsync(Caller.From(context.User), buildId, context.RequestAborted);
            if (build is null)
            {
                return ApiProblems.NotFound("Build", buildId);
            }

            var lifetime = LinkLifetime(context.Request, links.Value);
            var artifacts = await db.Artifacts.AsNoTracking().Where(a => a.BuildId == build.Id).OrderBy(a => a.Name).ToListAsync(context.RequestAborted);
            var dtos = new List<ArtifactDto>(artifacts.Count);
            foreach (var a in artifacts)
            {
                // The link names the promoted, versioned blob: artifacts/{project}/{version}/{file}.
                var signed = await store.GetSignedUrlAsync(layout.Artifact(a.ProjectId, a.Version, a.Name), BlobPermission.Read, lifetime, context.RequestAborted);
                dtos.Add(new ArtifactDto(a.Name, a.Version, a.Size, a.Sha256, signed.Url, signed.ExpiresAt));
            }

            return Results.Ok(dtos);
        });

        api.MapPost("/builds/{buildId}/cancel", async (string buildId, HttpContext context, BuildService builds) =>
        {
            var caller = Caller.From(context.User);
            var build = await builds.FindBuildAsync(caller, buildId, context.RequestAborted);
            if (build is null)
            {
                return ApiProblems.NotFound("Build", buildId);
            }

            var cancelled = await builds.CancelAsync(caller, build, context.RequestAborted);
            return Results.Accepted($"/api/v1/builds/{build.Id}", BuildService.ToDto(cancelled));
        });

        return api;
    }

    /// <summary>?lifetime=SECONDS asks for a shorter or longer link than Links:DefaultLifetime, never beyond Links:MaxLifetime (400, not clamped).</summary>
    internal static TimeSpan LinkLifetime(HttpRequest request, DownloadLinkOptions links)
    {
        var raw = request.Query["lifetime"];
        if (raw.Count == 0)
        {
            return links.DefaultLifetime;
        }

        var max = (long)links.MaxLifetime.TotalSeconds;
        if (raw.Count > 1 || !long.TryParse(raw[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds < 1)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "Invalid link lifetime", $"lifetime is a whole number of seconds from 1 to {max}.");
        }

        return seconds <= max
            ? TimeSpan.FromSeconds(seconds)
            : throw new ApiException(StatusCodes.Status400BadRequest, "Link lifetime too long", $"lifetime={seconds} exceeds the maximum of {max} seconds (Links:MaxLifetime).");
    }
}
