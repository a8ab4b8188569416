using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Api;

/// <summary>/api/v1/builds/{buildId}: state, log (live), result and artifact links, cancel, rerun.</summary>
public static class BuildsApi
{
    public static RouteGroupBuilder MapBuildsApi(this RouteGroupBuilder api)
    {
        // Every endpoint here works on one build the caller may see; the filter answers 404 for any other id.
        var build = api.MapGroup("/builds/{buildId}")
            .AddEndpointFilter(OwnedResources.RequireBuildAsync)
            .ProducesProblem(StatusCodes.Status404NotFound);

        build.MapGet("", GetBuildAsync);
        build.MapGet("/log", StreamLogAsync);
        build.MapGet("/result", GetResultLinkAsync);
        build.MapGet("/artifacts", ListArtifactsAsync);
        build.MapPost("/cancel", CancelAsync);
        build.MapPost("/rerun", RerunAsync);
        return api;
    }

    /// <summary>The build with its current attempt's steps.</summary>
    private static async Task<Ok<BuildDto>> GetBuildAsync(HttpContext context, BuildService builds)
    {
        var build = OwnedResources.Build(context);
        return TypedResults.Ok(BuildService.ToDto(build, await builds.ListStepsAsync(build, context.RequestAborted)));
    }

    /// <summary>The log as text; with ?follow=true it streams what the runner appends until the build ends.</summary>
    private static async Task<EmptyHttpResult> StreamLogAsync(bool? follow, HttpContext context, LogStreamer logs)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await logs.StreamAsync(OwnedResources.Build(context), follow == true, context.Response.Body, context.RequestAborted);
        return TypedResults.Empty;
    }

    private static async Task<Results<Ok<SignedLink>, ProblemHttpResult>> GetResultLinkAsync(
        HttpContext context, IBlobStore store, BlobLayout layout, IOptions<DownloadLinkOptions> links)
    {
        var build = OwnedResources.Build(context);
        var lifetime = LinkLifetime(context.Request, links.Value);
        var blob = layout.BuildResult(build.ProjectId, build.Number);
        if (await store.GetPropertiesAsync(blob, context.RequestAborted) is null)
        {
            return ApiProblems.Problem(StatusCodes.Status404NotFound, "No result",
                $"Build {build.Id} is {build.Status.ToWire()} and has no result.zip" + (build.Status.IsTerminal() ? "." : " yet."));
        }

        var signed = await store.GetSignedUrlAsync(blob, BlobPermission.Read, lifetime, context.RequestAborted);
        return TypedResults.Ok(new SignedLink(signed.Url, signed.ExpiresAt));
    }

    private static async Task<Ok<List<ArtifactDto>>> ListArtifactsAsync(
        HttpContext context, BuildService builds, IBlobStore store, BlobLayout layout, IOptions<DownloadLinkOptions> links)
    {
        var build = OwnedResources.Build(context);
        var lifetime = LinkLifetime(context.Request, links.Value);
        var artifacts = await builds.ListArtifactsAsync(build, context.RequestAborted);
        var dtos = new List<ArtifactDto>(artifacts.Count);
        foreach (var a in artifacts)
        {
            // The link names the promoted, versioned blob: artifacts/{project}/{version}/{file}.
            var signed = await store.GetSignedUrlAsync(layout.Artifact(a.ProjectId, a.Version, a.Name), BlobPermission.Read, lifetime, context.RequestAborted);
            dtos.Add(new ArtifactDto(a.Name, a.Version, a.Size, a.Sha256, signed.Url, signed.ExpiresAt));
        }

        return TypedResults.Ok(dtos);
    }

    private static async Task<Accepted<BuildDto>> CancelAsync(HttpContext context, BuildService builds)
    {
        var build = OwnedResources.Build(context);
        var cancelled = await builds.CancelAsync(Caller.From(context.User), build, context.RequestAborted);
        return TypedResults.Accepted($"/api/v1/builds/{build.Id}", BuildService.ToDto(cancelled));
    }

    /// <summary>202 with the new build: the same source, toolchain and command, queued now.</summary>
    private static async Task<Accepted<BuildDto>> RerunAsync(HttpContext context, BuildService builds)
    {
        var rerun = await builds.RerunAsync(OwnedResources.Build(context), context.RequestAborted);
        return TypedResults.Accepted($"/api/v1/builds/{rerun.Id}", BuildService.ToDto(rerun));
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
