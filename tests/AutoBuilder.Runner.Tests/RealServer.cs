using System.IO.Compression;
using System.Net.Http.Json;
using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Runner.Tests;

/// <summary>
/// The real server with role Api (no dispatcher), so a test can run the real <see cref="BuildRunner"/> in this process
/// for a build it claimed exactly as the dispatcher claims one: the same compare-and-set in the server's own store,
/// and a build token from the server's own <see cref="BuildTokenService"/>.
/// </summary>
internal static class RealServer
{
    public static Task<InProcessServer> StartAsync(IReadOnlyDictionary<string, string?>? settings = null) =>
        InProcessServer.StartAsync(ServerRole.Api, settings);

    public static byte[] Zip(string directory)
    {
        using var temp = new TempDirectory();
        return File.ReadAllBytes(TestZip.FromDirectory(directory, temp.Combine("source.zip")));
    }

    public static byte[] Zip(params TestZip.Entry[] entries)
    {
        using var temp = new TempDirectory();
        return File.ReadAllBytes(TestZip.Create(temp.Combine("source.zip"), entries));
    }

    public static HashSet<string> EntriesOf(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip));
        return [.. archive.Entries.Select(e => e.FullName)];
    }

    /// <summary>Moves a queued build to Running with a new attempt, as the dispatcher's claim does, and issues that attempt's token.</summary>
    public static async Task<string> ClaimAsync(this InProcessServer server, string buildId)
    {
        var now = DateTimeOffset.UtcNow;
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var queuedAt = await db.Builds.AsNoTracking().Where(b => b.Id == buildId).Select(b => b.QueuedAt).SingleAsync();
        var attempt = await new BuildTransitions(db).TryClaimAsync(buildId, "runner-tests", now, TimeSpan.FromHours(1), queuedAt);
        Assert.NotNull(attempt);
        return server.Services.GetRequiredService<BuildTokenService>().Issue(buildId, attempt.Value);
    }

    /// <summary>Hands a running build back to the queue, as the dispatcher does when a runner was lost.</summary>
    public static async Task RequeueAsync(this InProcessServer server, string buildId)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var attempt = await db.Builds.AsNoTracking().Where(b => b.Id == buildId).Select(b => b.Attempt).SingleAsync();
        Assert.True(await new BuildTransitions(db).TryRequeueAsync(buildId, attempt, "requeued by the test"));
    }

    /// <summary>The manifest (result.json) the runner published, read from the server's blob store.</summary>
    public static async Task<BuildManifest?> ManifestAsync(this InProcessServer server, BuildDto build)
    {
        var blob = server.Services.GetRequiredService<BlobLayout>().BuildManifest(build.ProjectId, build.Number);
        var path = server.BlobPath(blob.Container, blob.Path);
        return File.Exists(path) ? JsonSerializer.Deserialize<BuildManifest>(await File.ReadAllBytesAsync(path), AutoBuilderJson.Options) : null;
    }

    /// <summary>result.zip through the API's signed link.</summary>
    public static async Task<byte[]> ResultAsync(this InProcessServer server, string buildId)
    {
        var link = (await server.Admin.GetFromJsonAsync<SignedLink>(new Uri(ApiRoutes.BuildResult(buildId), UriKind.Relative), AutoBuilderJson.Options))!;
        using var anonymous = new HttpClient();
        return await anonymous.GetByteArrayAsync(link.Url);
    }

    public static async Task<IReadOnlyList<ArtifactDto>> ArtifactsAsync(this InProcessServer server, string buildId) =>
        (await server.Admin.GetFromJsonAsync<List<ArtifactDto>>(new Uri(ApiRoutes.BuildArtifacts(buildId), UriKind.Relative), AutoBuilderJson.Options))!;
}

/// <summary>Passes every request on to the real network and records what the runner sent (a recorder, not a fake).</summary>
internal sealed class RecordingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    public List<(HttpMethod Method, Uri Uri, string? Authorization)> Calls { get; } = [];

    public List<BuildPhase> Phases { get; } = [];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Calls)
        {
            Calls.Add((request.Method, request.RequestUri!, request.Headers.Authorization?.ToString()));
        }

        if (request.RequestUri!.AbsolutePath.EndsWith("/phase", StringComparison.Ordinal) && request.Content is not null)
        {
            await request.Content.LoadIntoBufferAsync(cancellationToken);
            var report = await request.Content.ReadFromJsonAsync<PhaseReport>(AutoBuilderJson.Options, cancellationToken);
            lock (Phases)
            {
                Phases.Add(report!.Phase);
            }
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
