using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Tests.Persistence;

/// <summary>Schema migrations and start-up bootstrap on both providers (SQLite file, real PostgreSQL).</summary>
public sealed class MigrationTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private const string BootstrapKey = "abk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Migrate_FromEmpty_AppliesEveryMigration_ThenNothing(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres), initialize: false);

        var first = await app.App.MigrateDatabaseAsync();
        var second = await app.App.MigrateDatabaseAsync();

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
        Assert.Equal(provider, first.Provider.ToString());
        Assert.Equal(db.Database.GetMigrations(), first.Applied);
        Assert.NotEmpty(first.Applied);
        Assert.Empty(second.Applied);
        Assert.Equal(first.Applied.Count, second.AppliedBefore);
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Equal(0, await db.Builds.CountAsync(b => b.Imported));
    }

    /// <summary>The drift check: a model change without its migration (for either provider) fails here.</summary>
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Model_HasNoChangesMissingFromTheMigrations(string provider)
    {
        await using var app = await MetadataApp.CreateAsync(await MetadataApp.ProviderSettingsAsync(provider, postgres), initialize: false);
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        Assert.False(db.Database.HasPendingModelChanges(),
            $"The {provider} model differs from its migrations' snapshot: run `dotnet ef migrations add <Name> --project src/AutoBuilder.Server --context {db.GetType().Name} --output-dir Persistence/Migrations/{provider}`.");
    }

    [Fact]
    public async Task Postgres_StoresTimesAsTimestamptz_AndComparesThemInTheDatabase()
    {
        var settings = await MetadataApp.ProviderSettingsAsync("Postgres", postgres);
        // The admin is created while the app initializes: its CreatedAt lies between these two readings of the clock
        // (less 1 ms for the database's microsecond rounding), whatever the machine's load.
        var before = DateTimeOffset.UtcNow.AddMilliseconds(-1);
        await using var app = await MetadataApp.CreateAsync(settings);
        var after = DateTimeOffset.UtcNow;
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();

        var types = await db.Database.SqlQuery<string>(
            $"SELECT data_type AS \"Value\" FROM information_schema.columns WHERE table_name = 'builds' AND column_name = 'QueuedAt'").ToListAsync();
        Assert.Equal(["timestamp with time zone"], types);
        var admin = await db.Users.SingleAsync();
        Assert.Equal(TimeSpan.Zero, admin.CreatedAt.Offset);
        Assert.Equal(1, await db.Users.CountAsync(u => u.CreatedAt >= before && u.CreatedAt <= after));
        Assert.Equal(0, await db.Users.CountAsync(u => u.CreatedAt > after));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task MigrateOnStartOff_OnAnEmptyDatabase_RefusesToStart_NamingTheCommand(string provider)
    {
        var settings = await MetadataApp.ProviderSettingsAsync(provider, postgres);
        settings["Metadata:MigrateOnStart"] = "false";
        await using var app = await MetadataApp.CreateAsync(settings, initialize: false);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.App.InitializeAsync());

        Assert.Contains("autobuilder db migrate", error.Message, StringComparison.Ordinal);
        await app.App.MigrateDatabaseAsync();
        await app.App.InitializeAsync(); // migrated: now it starts
    }

    /// <summary>Several processes starting at once on one empty PostgreSQL: one migrates, one admin with one key, no one fails.</summary>
    [Fact]
    public async Task Postgres_ManyProcessesStartingAtOnce_MigrateOnce_AndCreateOneAdmin()
    {
        var settings = await MetadataApp.ProviderSettingsAsync("Postgres", postgres);
        var data = Directory.CreateTempSubdirectory("metadata-shared-").FullName;
        var apps = new List<MetadataApp>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                apps.Add(await MetadataApp.CreateAsync(settings, data, initialize: false));
            }

            await Task.WhenAll(apps.Select(a => a.App.InitializeAsync()));

            await using var scope = apps[0].Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
            Assert.Equal(["admin"], await db.Users.Select(u => u.Name).ToListAsync());
            Assert.Equal(1, await db.ApiKeys.CountAsync());
            var key = (await File.ReadAllTextAsync(Path.Combine(data, "admin.key"))).Trim();
            Assert.Equal("admin", (await scope.ServiceProvider.GetRequiredService<ApiKeyService>().FindUserAsync(key))?.Name);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task BootstrapAdminKey_GivesTheAdminThatKey_Idempotently_AndWritesNoKeyFile(string provider)
    {
        var settings = await MetadataApp.ProviderSettingsAsync(provider, postgres);
        settings["Auth:BootstrapAdminKey"] = BootstrapKey;
        var data = Directory.CreateTempSubdirectory("metadata-bootstrap-").FullName;
        var apps = new List<MetadataApp>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                apps.Add(await MetadataApp.CreateAsync(settings, data, initialize: false));
            }

            // All at once (Postgres: several processes), then once more (a restart).
            await Task.WhenAll(apps.Select(a => a.App.InitializeAsync()));
            await apps[0].App.InitializeAsync();

            await using var scope = apps[0].Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AutoBuilderDbContext>();
            var user = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().FindUserAsync(BootstrapKey);
            Assert.Equal("admin", user?.Name);
            Assert.True(user!.IsAdmin);
            Assert.Equal(1, await db.ApiKeys.CountAsync());
            Assert.False(File.Exists(Path.Combine(data, "admin.key")));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("abk_short")]
    [InlineData("xyz_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")]
    [InlineData("abk_0123456789abcdefghijklmnopqrstuvwxyzABCDE+/")]
    public async Task BootstrapAdminKey_Malformed_FailsStartUp_NamingTheSetting(string key)
    {
        var settings = await MetadataApp.ProviderSettingsAsync("Sqlite", postgres);
        settings["Auth:BootstrapAdminKey"] = key;
        await using var app = await MetadataApp.CreateAsync(settings, initialize: false);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.App.InitializeAsync());

        Assert.Contains("Auth:BootstrapAdminKey", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostgresProvider_WithoutConnectionString_FailsNamingIt()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            MetadataApp.CreateAsync(new Dictionary<string, string?> { ["Metadata:Provider"] = "Postgres" }, initialize: false));
        Assert.Contains("ConnectionStrings:Metadata", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownProvider_FailsNamingTheChoices()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            MetadataApp.CreateAsync(new Dictionary<string, string?> { ["Metadata:Provider"] = "Oracle" }, initialize: false));
        Assert.Contains("'Sqlite' or 'Postgres'", error.Message, StringComparison.Ordinal);
    }
}
