using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Caches;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Server.Tests.Persistence;
using AutoBuilder.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AutoBuilder.Server.Tests.Caches;

/// <summary>
/// <see cref="CacheCatalog"/> on both metadata providers and the real filesystem blob store: least-recently-used
/// eviction under Caches:MaxProjectBytes, concurrent evictions, deletes, and the orphan sweep. Each scope is its own
/// context and connection, as in another process.
/// </summary>
public sealed class CacheCatalogTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const int KiB = 1024;
    private const long Limit = 1024 * KiB; // the smallest Caches:MaxProjectBytes allowed
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task EnforceLimit_OverTheLimit_EvictsLeastRecentlyUsedFirstUntilUnder_NeverKeep(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        // 4 × 400 KiB = 1600 KiB against 1024 KiB. The least recently used, a, is the one to keep (as a new save would be).
        var a = await SeedAsync(app, "app", "a", 400 * KiB, Start);
        var b = await SeedAsync(app, "app", "b", 400 * KiB, Start.AddMinutes(1));
        var c = await SeedAsync(app, "app", "c", 400 * KiB, Start.AddMinutes(2));
        var d = await SeedAsync(app, "app", "d", 400 * KiB, Start.AddMinutes(3));
        var foreign = await SeedAsync(app, "other", "old", 400 * KiB, Start.AddDays(-30));

        var evicted = await WithCatalogAsync(app, catalog => catalog.EnforceLimitAsync("app", keep: a.Id));

        Assert.Equal(new CacheDeletion(2, 800 * KiB), evicted);
        Assert.Equal([d.Id, a.Id], await EntryIdsAsync(app, "app"));
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", b.Key));
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", c.Key));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", a.Key));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", d.Key));
        Assert.Equal([foreign.Id], await EntryIdsAsync(app, "other"));

        // Under the limit now: nothing more goes.
        Assert.Equal(CacheDeletion.None, await WithCatalogAsync(app, catalog => catalog.EnforceLimitAsync("app")));
        var listing = await WithCatalogAsync(app, catalog => catalog.ListAsync("app"));
        Assert.Equal(800 * KiB, listing.TotalBytes);
        Assert.Equal(Limit, listing.LimitBytes);
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task EnforceLimit_OldEntryRestoredSince_IsNotTheOneEvicted(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        var old = await SeedAsync(app, "app", "old", 600 * KiB, Start);
        var recent = await SeedAsync(app, "app", "recent", 600 * KiB, Start.AddMinutes(1));

        // A restore uses the older entry before the eviction runs: the other one becomes the least recently used.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.Where(e => e.Id == old.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.LastUsedAt, Start.AddMinutes(2)));
        }

        Assert.Equal(new CacheDeletion(1, 600 * KiB), await WithCatalogAsync(app, catalog => catalog.EnforceLimitAsync("app")));
        Assert.Equal([old.Id], await EntryIdsAsync(app, "app"));
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", recent.Key));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task EnforceLimit_Concurrently_EvictsExactlyWhatTheLimitNeeds_AndCountsEachOnce(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        // 10 × 200 KiB = 2000 KiB: the 5 least recently used must go to get to 1000 KiB ≤ 1024 KiB, and no more.
        var entries = new List<CacheEntryEntity>();
        for (var i = 0; i < 10; i++)
        {
            entries.Add(await SeedAsync(app, "busy", $"k{i}", 200 * KiB, Start.AddMinutes(i)));
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => WithCatalogAsync(app, catalog => catalog.EnforceLimitAsync("busy")))));

        Assert.Equal(5, results.Sum(r => r.Deleted));
        Assert.Equal(1000 * KiB, results.Sum(r => r.FreedBytes));
        Assert.Equal(entries[5..].Select(e => e.Id).Reverse(), await EntryIdsAsync(app, "busy"));
        foreach (var entry in entries)
        {
            Assert.Equal(entries.IndexOf(entry) >= 5, await CacheSeeder.ArchiveExistsAsync(app.Services, "busy", "maven", entry.Key));
        }
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task SweepOrphans_DeletesOnlyOldArchivesWithoutARow(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        // Project "maven": its prefix cache/maven/ also holds the legacy import's shared tree (maven/repository/...).
        var registered = await SeedAsync(app, "maven", "registered", 10 * KiB, Start);
        await CacheSeeder.WriteArchiveAsync(app.Services, "maven", "npm", "young-orphan", 10 * KiB);
        await CacheSeeder.WriteArchiveAsync(app.Services, "maven", "gradle", "old-orphan", 10 * KiB);
        var legacy = app.Services.GetRequiredService<BlobLayout>().CacheTreeFile("maven/repository/org/demo/1.0/demo-1.0.jar");
        using (var content = new MemoryStream([1, 2, 3]))
        {
            await app.Services.GetRequiredService<IBlobStore>().UploadAsync(legacy, content, overwrite: false);
        }

        var twoHoursAgo = DateTime.UtcNow.AddHours(-2);
        File.SetLastWriteTimeUtc(BlobFile(app, "maven/maven/registered.tar.zst"), twoHoursAgo);
        File.SetLastWriteTimeUtc(BlobFile(app, "maven/gradle/old-orphan.tar.zst"), twoHoursAgo);
        File.SetLastWriteTimeUtc(BlobFile(app, "maven/repository/org/demo/1.0/demo-1.0.jar"), twoHoursAgo);

        Assert.Equal(1, await WithCatalogAsync(app, catalog => catalog.SweepOrphansAsync("maven")));

        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "maven", "gradle", "old-orphan"));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "maven", "npm", "young-orphan"));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "maven", "maven", registered.Key));
        Assert.NotNull(await app.Services.GetRequiredService<IBlobStore>().GetPropertiesAsync(legacy));
        Assert.Equal([registered.Id], await EntryIdsAsync(app, "maven"));
    }

    [Fact]
    public async Task EnforceLimit_SweepsOrphansAtMostOncePerInterval()
    {
        await using var app = await CreateAppAsync("Sqlite");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var schedule = new CacheSweepSchedule(clock);
        var twoHoursAgo = DateTime.UtcNow.AddHours(-2);
        async Task OldOrphanAsync(string key)
        {
            await CacheSeeder.WriteArchiveAsync(app.Services, "app", "npm", key, KiB);
            File.SetLastWriteTimeUtc(BlobFile(app, $"app/npm/{key}.tar.zst"), twoHoursAgo);
        }

        async Task EnforceAsync()
        {
            await using var scope = app.Services.CreateAsyncScope();
            var services = scope.ServiceProvider;
            var catalog = new CacheCatalog(services.GetRequiredService<AutoBuilderDbContext>(), services.GetRequiredService<IBlobStore>(),
                services.GetRequiredService<BlobLayout>(), services.GetRequiredService<IOptions<CacheOptions>>(), schedule, clock, NullLogger<CacheCatalog>.Instance);
            await catalog.EnforceLimitAsync("app");
        }

        await OldOrphanAsync("first");
        await EnforceAsync();
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "npm", "first"));

        await OldOrphanAsync("second");
        clock.Advance(TimeSpan.FromMinutes(59));
        await EnforceAsync();
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "npm", "second"));

        clock.Advance(TimeSpan.FromMinutes(2));
        await EnforceAsync();
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "npm", "second"));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Delete_RemovesRowAndArchive_AMissingArchiveIsFine_AndAnotherProjectsIdIsNotFound(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        var entry = await SeedAsync(app, "app", "one", KiB, Start);
        var blobless = await SeedAsync(app, "app", "two", KiB, Start);
        File.Delete(BlobFile(app, "app/maven/two.tar.zst"));
        var foreign = await SeedAsync(app, "other", "three", KiB, Start);

        Assert.Equal(entry.Id, (await WithCatalogAsync(app, catalog => catalog.DeleteAsync("app", entry.Id)))?.Id);
        Assert.False(await CacheSeeder.ArchiveExistsAsync(app.Services, "app", "maven", entry.Key));
        Assert.Equal(blobless.Id, (await WithCatalogAsync(app, catalog => catalog.DeleteAsync("app", blobless.Id)))?.Id);
        Assert.Null(await WithCatalogAsync(app, catalog => catalog.DeleteAsync("app", entry.Id)));
        Assert.Null(await WithCatalogAsync(app, catalog => catalog.DeleteAsync("app", foreign.Id)));

        Assert.Empty(await EntryIdsAsync(app, "app"));
        Assert.Equal([foreign.Id], await EntryIdsAsync(app, "other"));
        Assert.True(await CacheSeeder.ArchiveExistsAsync(app.Services, "other", "maven", foreign.Key));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task DeleteAll_ConcurrentlyWithEviction_DeletesEveryEntryOnce(string provider)
    {
        await using var app = await CreateAppAsync(provider);
        for (var i = 0; i < 6; i++)
        {
            await SeedAsync(app, "app", $"k{i}", 300 * KiB, Start.AddMinutes(i));
        }

        var all = Task.Run(() => WithCatalogAsync(app, catalog => catalog.DeleteAllAsync("app")));
        var evictions = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => WithCatalogAsync(app, catalog => catalog.EnforceLimitAsync("app")))));
        var deleted = await all;

        Assert.Equal(6, deleted.Deleted + evictions.Sum(e => e.Deleted));
        Assert.Equal(6 * 300 * KiB, deleted.FreedBytes + evictions.Sum(e => e.FreedBytes));
        Assert.Empty(await EntryIdsAsync(app, "app"));
        Assert.False(Directory.Exists(BlobFile(app, "app/maven")) && Directory.EnumerateFiles(BlobFile(app, "app/maven")).Any());
    }

    private async Task<MetadataApp> CreateAppAsync(string provider)
    {
        var settings = await MetadataApp.ProviderSettingsAsync(provider, postgres);
        settings["Caches:MaxProjectBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Caches:MaxArchiveBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture); // at most MaxProjectBytes
        return await MetadataApp.CreateAsync(settings);
    }

    private static Task<CacheEntryEntity> SeedAsync(MetadataApp app, string projectId, string key, int size, DateTimeOffset lastUsedAt) =>
        CacheSeeder.SeedAsync(app.Services, projectId, "maven", key, size, lastUsedAt);

    private static async Task<T> WithCatalogAsync<T>(MetadataApp app, Func<CacheCatalog, Task<T>> action)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<CacheCatalog>());
    }

    /// <summary>The project's entries as the catalog lists them: most recently used first.</summary>
    private static async Task<string[]> EntryIdsAsync(MetadataApp app, string projectId) =>
        [.. (await WithCatalogAsync(app, catalog => catalog.ListAsync(projectId))).Entries.Select(e => e.Id)];

    private static string BlobFile(MetadataApp app, string path) => Path.Combine([app.DataDirectory, "blobs", "cache", .. path.Split('/')]);
}
