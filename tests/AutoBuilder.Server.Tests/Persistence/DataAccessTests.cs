using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Persistence;

/// <summary>
/// The services' writes that must stay atomic when several processes share one database — build numbers, project
/// creation, cancel — on both providers (the claim and the other transitions: <see cref="BuildTransitionsTests"/>). Each scope here is its own context and connection, as in another process.
/// </summary>
public sealed class DataAccessTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static readonly Caller Alice = new("alice", IsAdmin: false);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task CreateBuild_Concurrently_HandsOutEveryNumberOnce(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var project = await EnsureProjectAsync(app, "numbers");
        var source = await AddSourceAsync(app, project.Id);

        var builds = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<BuildService>().CreateBuildAsync(project, source, null, null);
        }));

        Assert.Equal(Enumerable.Range(1, 20), builds.Select(b => b.Number).Order());
        await using var check = app.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        Assert.Equal(20, (await db.Projects.SingleAsync(p => p.Id == project.Id)).LastBuildNumber);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task EnsureProject_Concurrently_CreatesItOnce_AndAForeignIdConflicts(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<BuildService>().EnsureProjectAsync(Alice, "shared");
        }));

        Assert.Equal(1, results.Count(r => r.Created));
        Assert.All(results, r => Assert.Equal("alice", r.Project.OwnerName));
        await using var other = app.Services.CreateAsyncScope();
        var conflict = await Assert.ThrowsAsync<ConflictException>(() => other.ServiceProvider.GetRequiredService<BuildService>().EnsureProjectAsync(new Caller("bob", false), "shared"));
        Assert.Equal("Project id not available", conflict.Title);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Cancel_AQueuedBuild_BeatsTheClaim_AndCancellingTwiceConflicts(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var build = (await CreateBuildsAsync(app, "cancel", 1))[0];

        await using var scope = app.Services.CreateAsyncScope();
        var service = scope.ServiceProvider.GetRequiredService<BuildService>();
        var cancelled = await service.CancelAsync(Alice, build);
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        Assert.Equal(BuildStatus.Cancelled, cancelled.Status);
        Assert.Null(await new BuildTransitions(db).TryClaimAsync(build.Id, "d1", DateTimeOffset.UtcNow, Lease, build.QueuedAt));
        var again = await Assert.ThrowsAsync<ConflictException>(() => service.CancelAsync(Alice, build));
        Assert.Equal("Build already finished", again.Title);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Queue_IsReadOldestFirst_AndLookupsAreCaseSensitive(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var builds = await CreateBuildsAsync(app, "order", 5);

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var queue = await db.Builds.AsNoTracking().Where(b => b.Status == BuildStatus.Queued).OrderBy(b => b.QueuedAt).Select(b => b.Number).ToListAsync();
        Assert.Equal([1, 2, 3, 4, 5], queue);
        Assert.Null(await scope.ServiceProvider.GetRequiredService<BuildService>().FindProjectAsync(new Caller("ALICE", false), "order"));
        Assert.Equal(0, await db.Projects.CountAsync(p => p.Id == "ORDER"));
    }

    private static async Task<ProjectEntity> EnsureProjectAsync(MetadataApp app, string projectId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<BuildService>().EnsureProjectAsync(Alice, projectId)).Project;
    }

    private static async Task<string> AddSourceAsync(MetadataApp app, string projectId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        var source = new SourceEntity { Id = Ids.NewId(), ProjectId = projectId, Size = 1, Sha256 = new string('0', 64), CreatedAt = DateTimeOffset.UtcNow };
        db.Sources.Add(source);
        await db.SaveChangesAsync();
        return source.Id;
    }

    internal static async Task<IReadOnlyList<BuildEntity>> CreateBuildsAsync(MetadataApp app, string projectId, int count)
    {
        var project = await EnsureProjectAsync(app, projectId);
        var source = await AddSourceAsync(app, projectId);
        var builds = new List<BuildEntity>();
        for (var i = 0; i < count; i++)
        {
            await using var scope = app.Services.CreateAsyncScope();
            builds.Add(await scope.ServiceProvider.GetRequiredService<BuildService>().CreateBuildAsync(project, source, null, null));
        }

        return builds;
    }
}
