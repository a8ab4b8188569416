using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Cli.Tests;

/// <summary>
/// A real Kestrel server on 127.0.0.1 (random port) answering the API v1 routes the CLI calls with canned data,
/// and serving "signed" blob URLs under /blobs. It records what it received.
/// </summary>
internal sealed class FakeAutoBuilderServer : IAsyncDisposable
{
    public const string ApiKey = "test-key";
    public const string BuildId = "0123456789abcdef0123456789abcdef";

    private readonly WebApplication _app;

    private FakeAutoBuilderServer(WebApplication app)
    {
        _app = app;
        Map(app);
    }

    public Uri Url { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public BuildStatus FinalStatus { get; set; } = BuildStatus.Succeeded;

    public byte[] ResultZip { get; set; } = Encoding.UTF8.GetBytes("pretend result.zip");

    public byte[] Artifact { get; set; } = Encoding.UTF8.GetBytes("pretend app.jar");

    /// <summary>The SHA-256 the artifact list claims; null means the true one.</summary>
    public string? ClaimedArtifactSha256 { get; set; }

    public bool HasResult { get; set; } = true;

    public IReadOnlyList<string> LogChunks { get; set; } = ["[stage] unpacking\n", "[build] BUILD SUCCESS\n"];

    /// <summary>After the log chunks, keep the followed log open until the client goes away (a build still running).</summary>
    public bool KeepLogOpen { get; set; }

    /// <summary>The uploaded body of the last ZIP upload.</summary>
    public byte[]? LastUpload { get; private set; }

    public static async Task<FakeAutoBuilderServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.ConfigureHttpJsonOptions(o => AutoBuilderJson.Configure(o.SerializerOptions));
        builder.Services.AddProblemDetails();
        var server = new FakeAutoBuilderServer(builder.Build());
        await server._app.StartAsync();
        server.Url = new Uri(server._app.Urls.First());
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public Uri BlobUrl(string name) => new(Url, $"blobs/{name}?sig=secret-signature");

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            Requests.Enqueue(new RecordedRequest(
                context.Request.Method,
                context.Request.Path.Value ?? "",
                context.Request.QueryString.Value ?? "",
                context.Request.Headers.Authorization.ToString(),
                context.Request.ContentType,
                context.Request.ContentLength));
            if (context.Request.Path.StartsWithSegments("/api") && context.Request.Headers.Authorization != $"Bearer {ApiKey}")
            {
                await Results.Problem(title: "Unauthorized", detail: "Bad API key.", statusCode: 401).ExecuteAsync(context);
                return;
            }

            await next(context);
        });

        app.MapPut("api/v1/projects/{projectId}", (string projectId) => projectId == "forbidden"
            ? Results.Problem(title: "Project belongs to someone else", detail: "Project 'forbidden' is owned by another user.", statusCode: 403)
            : Results.Json(new ProjectDto(projectId, "admin", DateTimeOffset.UnixEpoch, 0), statusCode: 201));

        app.MapGet("api/v1/projects", () => Results.Json(new[] { new ProjectDto("demo", "admin", DateTimeOffset.UnixEpoch, 3) }));

        app.MapPost("api/v1/projects/{projectId}/builds", async (string projectId, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            LastUpload = body.ToArray();
            return Results.Json(Build(projectId, BuildStatus.Queued), statusCode: 202);
        });

        app.MapGet("api/v1/projects/{projectId}/builds", (string projectId) => Results.Json(new[] { Build(projectId, FinalStatus) }));

        app.MapGet("api/v1/builds/{buildId}", (string buildId) => buildId switch
        {
            "plain-error" => Results.Text(new string('x', 2000), "text/plain", statusCode: 500),
            BuildId => Results.Json(Build("demo", FinalStatus)),
            _ => Results.Problem(title: "Build not found", detail: $"No build {buildId}.", statusCode: 404),
        });

        app.MapGet("api/v1/builds/{buildId}/log", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            foreach (var chunk in LogChunks)
            {
                await context.Response.WriteAsync(chunk);
                await context.Response.Body.FlushAsync();
            }

            if (KeepLogOpen)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client stopped following.
                }
            }
        });

        app.MapGet("api/v1/builds/{buildId}/result", () => HasResult
            ? Results.Json(new SignedLink(BlobUrl("result.zip"), DateTimeOffset.UnixEpoch.AddYears(100)))
            : Results.Problem(title: "No result", detail: "The build has no result.zip.", statusCode: 404));

        app.MapGet("api/v1/builds/{buildId}/artifacts", () => Results.Json(new[]
        {
            new ArtifactDto("app.jar", "1.0.0", Artifact.Length, ClaimedArtifactSha256 ?? Convert.ToHexStringLower(SHA256.HashData(Artifact)), BlobUrl("app.jar"), DateTimeOffset.UnixEpoch.AddYears(100)),
        }));

        app.MapPost("api/v1/builds/{buildId}/cancel", () => Results.Json(Build("demo", BuildStatus.Cancelled), statusCode: 202));

        app.MapGet("blobs/{name}", (string name) => name switch
        {
            "result.zip" => Results.Bytes(ResultZip, "application/zip"),
            "app.jar" => Results.Bytes(Artifact, "application/java-archive"),
            _ => Results.NotFound(),
        });
    }

    private BuildDto Build(string projectId, BuildStatus status) => new()
    {
        Id = BuildId,
        ProjectId = projectId,
        Number = 7,
        Status = status,
        SourceId = "fedcba9876543210fedcba9876543210",
        ExitCode = status.IsTerminal() ? (status == BuildStatus.Succeeded ? 0 : 1) : null,
        Error = status == BuildStatus.Failed ? "mvn exited with 1" : null,
        QueuedAt = DateTimeOffset.UnixEpoch,
        Durations = new PhaseDurations { Queue = 0.1, Stage = 0.2, Build = 3.5, Publish = 0.3 },
    };
}

internal sealed record RecordedRequest(string Method, string Path, string Query, string Authorization, string? ContentType, long? ContentLength);
