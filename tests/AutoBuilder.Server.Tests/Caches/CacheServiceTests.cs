using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Caches;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Server.Tests.Persistence;
using AutoBuilder.Tests.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Caches;

/// <summary>
/// <see cref="CacheService"/> on the real server composition, its real filesystem blob store, and both metadata
/// providers: which archive a restore finds, what a save is granted in each state of blob and row, and how commits race.
/// Each call runs in a scope of its own, as each runner request does.
/// </summary>
public sealed class CacheServiceTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string Maven = "maven";

    private static readonly CacheScope Alpha = new("alpha", "build-a1");
    private static readonly CacheScope Beta = new("beta", "build-b1");

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Restore_ExactKeyWins_ElseNewestUnderTheFirstRestoreKeyWithOne_And204WithNone(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var t0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        await AddEntryAsync(app, Alpha, "maven-old", t0);
        await AddEntryAsync(app, Alpha, "maven-new", t0.AddHours(1));
        await AddEntryAsync(app, Alpha, "maven-exact", t0.AddMinutes(1));
        await AddEntryAsync(app, Alpha, "other-newest", t0.AddHours(2));

        var exact = await CallAsync(app, s => s.RestoreAsync(Alpha, new CacheRestoreRequest(Maven, "maven-exact", ["maven-"])));
        var prefix = await CallAsync(app, s => s.RestoreAsync(Alpha, new CacheRestoreRequest(Maven, "maven-changed", ["nothing-", "maven-"])));
        var none = await CallAsync(app, s => s.RestoreAsync(Alpha, new CacheRestoreRequest(Maven, "maven-changed", ["gradle-"])));

        Assert.NotNull(exact);
        Assert.True(exact.Exact);
        Assert.Equal("maven-exact", exact.Key);
        Assert.NotNull(prefix);
        Assert.False(prefix.Exact);
        Assert.Equal("maven-new", prefix.Key); // the newest under "maven-", not the newest of all
        Assert.Contains("sp=r", prefix.Url.Query, StringComparison.Ordinal);
        Assert.Contains("/cache/alpha/maven/maven-new.tar.zst", prefix.Url.AbsolutePath, StringComparison.Ordinal);
        Assert.Null(none);

        // A restore is a use: the least recently used are evicted first.
        var used = await QueryAsync(app, db => db.CacheEntries.Where(e => e.Key == "maven-new").Select(e => e.LastUsedAt).SingleAsync());
        Assert.True(used > t0.AddDays(1), $"LastUsedAt {used} was not updated");
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Restore_SeesOnlyTheBuildsOwnProjectAndToolchain(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        await AddEntryAsync(app, Beta, "maven-1", DateTimeOffset.UtcNow);
        await AddEntryAsync(app, Alpha, "maven-1", DateTimeOffset.UtcNow, toolchain: "gradle");

        Assert.Null(await CallAsync(app, s => s.RestoreAsync(Alpha, new CacheRestoreRequest(Maven, "maven-1", ["maven-"]))));
        Assert.NotNull(await CallAsync(app, s => s.RestoreAsync(Beta, new CacheRestoreRequest(Maven, "maven-1", []))));
    }

    [Theory]
    [InlineData("Sqlite", "rust", "maven-1")]
    [InlineData("Sqlite", "maven", "../maven-1")]
    [InlineData("Sqlite", "maven", "a/b")]
    [InlineData("Postgres", "maven", "")]
    [InlineData("Postgres", "", "maven-1")]
    public async Task Calls_RefuseAnUnknownToolchainOrAKeyThatIsNotAFileName(string provider, string toolchain, string key)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));

        await Assert.ThrowsAsync<InvalidInputException>(() => CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(toolchain, key))));
        await Assert.ThrowsAsync<InvalidInputException>(() => CallAsync(app, s => s.RestoreAsync(Alpha, new CacheRestoreRequest(toolchain, key, []))));
        await Assert.ThrowsAsync<InvalidInputException>(() => CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(toolchain, key, 1, new string('a', 64)))));
    }

    [Fact]
    public async Task GrantSave_RefusesAKeyLongerThan200()
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync("Sqlite", postgres));
        await CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, new string('k', 200))));
        await Assert.ThrowsAsync<InvalidInputException>(() => CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, new string('k', 201)))));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task GrantSave_FreeKeyGetsACreateOnlyLink_ARegisteredOneNone_AnOrphanWithoutHashIsAdopted(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var store = app.Services.GetRequiredService<IBlobStore>();

        // Free.
        var free = await CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, "maven-free")));
        Assert.NotNull(free.Url);
        Assert.Contains("sp=c", free.Url.Query, StringComparison.Ordinal);
        Assert.Null(free.Reason);

        // Registered, blob there: nothing to do.
        await AddEntryAsync(app, Alpha, "maven-saved", DateTimeOffset.UtcNow);
        var saved = await CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, "maven-saved")));
        Assert.Null(saved.Url);
        Assert.Equal("saved already", saved.Reason);

        // A blob without a row and without a recorded hash (the filesystem store records none): blobs appear only whole,
        // so it is adopted with the hash read from it — its saver may be between upload and commit right now, and
        // deleting its blob let that saver register a hash another saver's blob then replaced (KeyedCacheConcurrencyTests).
        var orphan = Archive(app, Alpha, "maven-orphan");
        await store.UploadAsync(orphan, new MemoryStream([1, 2, 3]), overwrite: false);
        var adopted = await CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, "maven-orphan")));
        Assert.Null(adopted.Url);
        Assert.Equal("saved already", adopted.Reason);
        Assert.NotNull(await store.GetPropertiesAsync(orphan));
        var row = await QueryAsync(app, db => db.CacheEntries.SingleAsync(e => e.Key == "maven-orphan"));
        Assert.Equal((3L, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(new byte[] { 1, 2, 3 }))), (row.Size, row.Sha256));
        // Its saver's commit, arriving now, names the same archive: success, one row.
        await CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-orphan", 3, row.Sha256)));
        Assert.Equal(1, await QueryAsync(app, db => db.CacheEntries.CountAsync(e => e.Key == "maven-orphan")));

        // A row whose blob was deleted behind its back is dropped, and the key saved anew.
        await AddEntryAsync(app, Alpha, "maven-lost", DateTimeOffset.UtcNow, uploadBlob: false);
        var lost = await CallAsync(app, s => s.GrantSaveAsync(Alpha, new CacheSaveRequest(Maven, "maven-lost")));
        Assert.NotNull(lost.Url);
        Assert.Equal(0, await QueryAsync(app, db => db.CacheEntries.CountAsync(e => e.Key == "maven-lost")));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Commit_RegistersTheUploadedArchive_AndRefusesAMissingOrDifferentOne(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var store = app.Services.GetRequiredService<IBlobStore>();

        var missing = await Assert.ThrowsAsync<ConflictException>(() => CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 3, new string('a', 64)))));
        Assert.Equal("Cache archive missing", missing.Title);

        var uploaded = await store.UploadAsync(Archive(app, Alpha, "maven-1"), new MemoryStream([1, 2, 3]), overwrite: false);
        var wrongSize = await Assert.ThrowsAsync<ConflictException>(() => CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 4, uploaded.Sha256))));
        Assert.Equal("Cache archive differs", wrongSize.Title);
        Assert.Equal(0, await QueryAsync(app, db => db.CacheEntries.CountAsync()));

        await CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 3, uploaded.Sha256)));
        var row = await QueryAsync(app, db => db.CacheEntries.SingleAsync());
        Assert.Equal(("alpha", "maven", "maven-1", 3L, uploaded.Sha256, "build-a1"), (row.ProjectId, row.Toolchain, row.Key, row.Size, row.Sha256, row.BuildId));
        Assert.Equal(row.CreatedAt, row.LastUsedAt);

        // The same commit again (a retried request) is success; another hash under the key is refused.
        await CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 3, uploaded.Sha256)));
        var other = await Assert.ThrowsAsync<ConflictException>(() => CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 3, new string('b', 64)))));
        Assert.Equal("Cache key saved by another build", other.Title);
        Assert.Equal(1, await QueryAsync(app, db => db.CacheEntries.CountAsync()));
    }

    /// <summary>
    /// Issue 18: on a store that records no hash, a commit naming another archive of the same size (a racing saver's
    /// grant replaced this saver's blob) is refused: a row never names an archive that is not its blob.
    /// </summary>
    [Theory]
    [InlineData("Sqlite")]
    public async Task Commit_AnotherArchiveOfTheSameSize_IsRefused_SoTheRowsHashIsTheBlobs(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        await app.Services.GetRequiredService<IBlobStore>().UploadAsync(Archive(app, Alpha, "maven-1"), new MemoryStream([1, 2, 3]), overwrite: false);
        var mine = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(new byte[] { 4, 5, 6 }));

        var refused = await Assert.ThrowsAsync<ConflictException>(() => CallAsync(app, s => s.CommitAsync(Alpha, new CacheCommitRequest(Maven, "maven-1", 3, mine))));

        Assert.Equal("Cache archive differs", refused.Title);
        Assert.Equal(0, await QueryAsync(app, db => db.CacheEntries.CountAsync()));
    }

    /// <summary>Racing commits of one key, each on its own connection as from several API processes: one row, no error for the same archive.</summary>
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Commit_ManyRacersOfOneArchive_LeaveOneRowAndAllSucceed(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres));
        var uploaded = await app.Services.GetRequiredService<IBlobStore>().UploadAsync(Archive(app, Alpha, "maven-race"), new MemoryStream(new byte[1000]), overwrite: false);

        using var start = new Barrier(8);
        var racers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            start.SignalAndWait();
            await CallAsync(app, s => s.CommitAsync(Alpha with { BuildId = $"racer-{i}" }, new CacheCommitRequest(Maven, "maven-race", 1000, uploaded.Sha256)));
        }));
        await Task.WhenAll(racers);

        var rows = await QueryAsync(app, db => db.CacheEntries.Where(e => e.Key == "maven-race").ToListAsync());
        Assert.Single(rows);
        Assert.StartsWith("racer-", rows[0].BuildId, StringComparison.Ordinal);
    }

    private static BlobRef Archive(MetadataApp app, CacheScope scope, string key, string toolchain = Maven) =>
        app.Services.GetRequiredService<BlobLayout>().CacheArchive(scope.ProjectId, toolchain, key);

    private static async Task AddEntryAsync(MetadataApp app, CacheScope scope, string key, DateTimeOffset createdAt, string toolchain = Maven, bool uploadBlob = true)
    {
        var store = app.Services.GetRequiredService<IBlobStore>();
        var uploaded = uploadBlob
            ? await store.UploadAsync(Archive(app, scope, key, toolchain), new MemoryStream([7, 7]), overwrite: false)
            : new BlobUploadResult(2, new string('c', 64));
        await using var serviceScope = app.Services.CreateAsyncScope();
        var db = serviceScope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        db.CacheEntries.Add(new CacheEntryEntity
        {
            Id = Core.Ids.NewId(),
            ProjectId = scope.ProjectId,
            Toolchain = toolchain,
            Key = key,
            Size = uploaded.Size,
            Sha256 = uploaded.Sha256,
            CreatedAt = createdAt,
            LastUsedAt = createdAt,
            BuildId = scope.BuildId,
        });
        await db.SaveChangesAsync();
    }

    private static async Task<T> CallAsync<T>(MetadataApp app, Func<CacheService, Task<T>> call)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await call(scope.ServiceProvider.GetRequiredService<CacheService>());
    }

    private static async Task CallAsync(MetadataApp app, Func<CacheService, Task> call)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await call(scope.ServiceProvider.GetRequiredService<CacheService>());
    }

    private static async Task<T> QueryAsync<T>(MetadataApp app, Func<AutoBuilderDbContext, Task<T>> query)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>());
    }
}

/// <summary>On Azure (Azurite) the store records each blob's hash, so an archive whose saver died before its commit is adopted whole.</summary>
public sealed class AzureCacheServiceTests : IAsyncLifetime
{
    private AzuriteServer? _azurite;

    public async Task InitializeAsync() => _azurite = await AzuriteServer.StartNewAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }

    [Fact]
    public async Task GrantSave_AnOrphanWithARecordedHash_IsAdoptedAsTheEntry()
    {
        await using var app = await MetadataApp.CreateAsync(new Dictionary<string, string?>
        {
            ["Storage:Provider"] = "AzureBlob",
            ["Storage:Azure:ConnectionString"] = _azurite!.ConnectionString,
        });
        var store = app.Services.GetRequiredService<IBlobStore>();
        var blob = app.Services.GetRequiredService<BlobLayout>().CacheArchive("alpha", "maven", "maven-orphan");
        var uploaded = await store.UploadAsync(blob, new MemoryStream([1, 2, 3, 4]), overwrite: false);

        await using var scope = app.Services.CreateAsyncScope();
        var grant = await scope.ServiceProvider.GetRequiredService<CacheService>().GrantSaveAsync(new CacheScope("alpha", "b2"), new CacheSaveRequest("maven", "maven-orphan"));

        Assert.Null(grant.Url);
        Assert.Equal("saved already", grant.Reason);
        var row = await scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>().CacheEntries.AsNoTracking().SingleAsync();
        Assert.Equal(("maven-orphan", 4L, uploaded.Sha256), (row.Key, row.Size, row.Sha256));
        Assert.NotNull(await store.GetPropertiesAsync(blob));
    }
}
