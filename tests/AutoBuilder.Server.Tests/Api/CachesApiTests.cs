using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.Server.Tests.Api;

/// <summary>/api/v1/projects/{projectId}/caches on the real server (API role, in process, filesystem blobs, SQLite).</summary>
public sealed class CachesApiTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private InProcessServer _server = null!;
    private HttpClient _alice = null!;
    private HttpClient _bob = null!;

    public async Task InitializeAsync()
    {
        _server = await InProcessServer.StartAsync(ServerRole.Api, new Dictionary<string, string?>
        {
            ["Caches:MaxProjectBytes"] = "5000000",
            ["Caches:MaxArchiveBytes"] = "5000000",
        });
        _alice = _server.Client(await _server.CreateUserKeyAsync("alice"));
        _bob = _server.Client(await _server.CreateUserKeyAsync("bob"));
    }

    public async Task DisposeAsync()
    {
        _alice.Dispose();
        _bob.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task List_OwnProject_MostRecentlyUsedFirst_WithTotalAndLimit()
    {
        await PutProjectAsync(_alice, "app");
        var older = await SeedAsync("app", "older", 1000, Start);
        var newer = await SeedAsync("app", "newer", 3000, Start.AddHours(1));
        await SeedAsync("elsewhere", "not-mine", 500, Start.AddHours(2));

        using var response = await _alice.GetAsync(Route(ApiRoutes.ProjectCaches("app")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        Assert.Equal(4000, root.GetProperty("totalBytes").GetInt64());
        Assert.Equal(5_000_000, root.GetProperty("limitBytes").GetInt64());
        var caches = root.GetProperty("caches").EnumerateArray().ToList();
        Assert.Equal([newer.Id, older.Id], caches.Select(c => c.GetProperty("id").GetString()));
        var first = caches[0];
        Assert.Equal("maven", first.GetProperty("toolchain").GetString());
        Assert.Equal("newer", first.GetProperty("key").GetString());
        Assert.Equal(3000, first.GetProperty("size").GetInt64());
        Assert.Equal(newer.Sha256, first.GetProperty("sha256").GetString());
        Assert.Equal(Start.AddHours(1), first.GetProperty("createdAt").GetDateTimeOffset());
        Assert.Equal(Start.AddHours(1), first.GetProperty("lastUsedAt").GetDateTimeOffset());
        Assert.Equal(newer.BuildId, first.GetProperty("buildId").GetString());
    }

    [Fact]
    public async Task DeleteOne_Answers204_RemovesRowAndArchive_ThenAnswers404()
    {
        await PutProjectAsync(_alice, "app");
        var gone = await SeedAsync("app", "gone", 1000, Start);
        var kept = await SeedAsync("app", "kept", 1000, Start);

        using (var deleted = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCache("app", gone.Id))))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        Assert.False(await CacheSeeder.ArchiveExistsAsync(_server.Services, "app", "maven", "gone"));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(_server.Services, "app", "maven", "kept"));
        var list = await ListAsync(_alice, "app");
        Assert.Equal([kept.Id], list.Caches.Select(c => c.Id));
        Assert.Equal(1000, list.TotalBytes);

        using var again = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCache("app", gone.Id)));
        await AssertProblemAsync(again, HttpStatusCode.NotFound, "Cache not found");
    }

    [Fact]
    public async Task DeleteAll_RemovesEveryEntryOfTheProjectOnly_AndReportsFreedBytes()
    {
        await PutProjectAsync(_alice, "app");
        await PutProjectAsync(_alice, "other");
        await SeedAsync("app", "one", 1000, Start);
        await SeedAsync("app", "two", 2500, Start);
        var other = await SeedAsync("other", "three", 700, Start);

        using var response = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCaches("app")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var deleted = await response.Content.ReadFromJsonAsync<CachesDeletedDto>(AutoBuilderJson.Options);
        Assert.Equal(new CachesDeletedDto(2, 3500), deleted);
        Assert.Empty((await ListAsync(_alice, "app")).Caches);
        Assert.False(await CacheSeeder.ArchiveExistsAsync(_server.Services, "app", "maven", "one"));
        Assert.False(await CacheSeeder.ArchiveExistsAsync(_server.Services, "app", "maven", "two"));
        Assert.Equal([other.Id], (await ListAsync(_alice, "other")).Caches.Select(c => c.Id));

        // Nothing left: still 200, with nothing deleted.
        using var empty = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCaches("app")));
        Assert.Equal(new CachesDeletedDto(0, 0), await empty.Content.ReadFromJsonAsync<CachesDeletedDto>(AutoBuilderJson.Options));
    }

    [Fact]
    public async Task AnotherUsersProject_AnswersLikeAnUnknownOne_AndTheAdminMayManageIt()
    {
        await PutProjectAsync(_alice, "alices");
        var entry = await SeedAsync("alices", "dep", 1000, Start);

        using (var list = await _bob.GetAsync(Route(ApiRoutes.ProjectCaches("alices"))))
        {
            await AssertProblemAsync(list, HttpStatusCode.NotFound, "Project not found");
        }

        using (var one = await _bob.DeleteAsync(Route(ApiRoutes.ProjectCache("alices", entry.Id))))
        {
            await AssertProblemAsync(one, HttpStatusCode.NotFound, "Project not found");
        }

        using (var all = await _bob.DeleteAsync(Route(ApiRoutes.ProjectCaches("alices"))))
        {
            await AssertProblemAsync(all, HttpStatusCode.NotFound, "Project not found");
        }

        Assert.True(await CacheSeeder.ArchiveExistsAsync(_server.Services, "alices", "maven", "dep"));
        Assert.Equal([entry.Id], (await ListAsync(_server.Admin, "alices")).Caches.Select(c => c.Id));
        using (var byAdmin = await _server.Admin.DeleteAsync(Route(ApiRoutes.ProjectCache("alices", entry.Id))))
        {
            Assert.Equal(HttpStatusCode.NoContent, byAdmin.StatusCode);
        }

        Assert.Empty((await ListAsync(_alice, "alices")).Caches);
    }

    [Fact]
    public async Task DeleteOne_MalformedId400_UnknownId404_AnotherProjectsId404()
    {
        await PutProjectAsync(_alice, "app");
        await PutProjectAsync(_alice, "other");
        var others = await SeedAsync("other", "dep", 1000, Start);

        using (var malformed = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCache("app", "not-a-cache-id"))))
        {
            await AssertProblemAsync(malformed, HttpStatusCode.BadRequest, "Invalid cache id");
        }

        using (var unknown = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCache("app", Ids.NewId()))))
        {
            await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "Cache not found");
        }

        // The id exists, under another project of the same user: the route's project decides.
        using (var crossed = await _alice.DeleteAsync(Route(ApiRoutes.ProjectCache("app", others.Id))))
        {
            await AssertProblemAsync(crossed, HttpStatusCode.NotFound, "Cache not found");
        }

        using (var badProject = await _alice.GetAsync(Route(ApiRoutes.ProjectCaches("Not_A_Project"))))
        {
            await AssertProblemAsync(badProject, HttpStatusCode.NotFound, "Project not found");
        }

        Assert.Equal([others.Id], (await ListAsync(_alice, "other")).Caches.Select(c => c.Id));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(_server.Services, "other", "maven", "dep"));
    }

    private Task<CacheEntryEntity> SeedAsync(string projectId, string key, int size, DateTimeOffset lastUsedAt) =>
        CacheSeeder.SeedAsync(_server.Services, projectId, "maven", key, size, lastUsedAt);

    private static async Task PutProjectAsync(HttpClient client, string projectId)
    {
        using var response = await client.PutAsync(Route(ApiRoutes.Project(projectId)), null);
        response.EnsureSuccessStatusCode();
    }

    private static async Task<CacheListDto> ListAsync(HttpClient client, string projectId) =>
        (await client.GetFromJsonAsync<CacheListDto>(Route(ApiRoutes.ProjectCaches(projectId)), AutoBuilderJson.Options))!;

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string title)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(title, body.RootElement.GetProperty("title").GetString());
    }

    private static Uri Route(string route) => new(route, UriKind.Relative);
}
