using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Persistence;

/// <summary>
/// Prepares the metadata store: applies schema migrations (at start-up or from `autobuilder db migrate`) and
/// bootstraps the first admin. On PostgreSQL both run under one advisory lock, so any number of processes may start
/// at once against one database: one migrates and creates the admin, the others wait and then find it done.
/// </summary>
public sealed class DatabaseInitializer(
    AutoBuilderDbContext db,
    ApiKeyService keys,
    IOptions<MetadataOptions> metadataOptions,
    IOptions<AuthOptions> authOptions,
    ILogger<DatabaseInitializer> logger)
{
    /// <summary>An arbitrary, fixed advisory-lock key: "AutoBldr" in ASCII.</summary>
    private const long InitializationLockKey = 0x4175746F426C6472;

    /// <summary>Start-up: migrate (when Metadata:MigrateOnStart) or insist the schema is current, then bootstrap the admin.</summary>
    public async Task InitializeAsync(string dataDirectory, CancellationToken cancellationToken = default)
    {
        CreatePrivateSqliteFile();
        await using var initializationLock = await LockAsync(cancellationToken);
        if (metadataOptions.Value.MigrateOnStart)
        {
            await ApplyMigrationsAsync(cancellationToken);
        }
        else if (await PendingMigrationsAsync(cancellationToken) is { Count: > 0 } pending)
        {
            throw new InvalidOperationException(
                $"The metadata schema is not up to date ({pending.Count} migration(s) pending: {string.Join(", ", pending)}) and Metadata:MigrateOnStart is false; run `autobuilder db migrate` first.");
        }

        if (db.Database.IsSqlite())
        {
            // WAL lets the API read while the dispatcher writes; NORMAL sync is safe with WAL.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", cancellationToken);
        }

        await BootstrapAdminAsync(dataDirectory, cancellationToken);
    }

    /// <summary>`autobuilder db migrate`: applies what is pending and returns the names applied (none: already current).</summary>
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        CreatePrivateSqliteFile();
        await using var migrationLock = await LockAsync(cancellationToken);
        return await ApplyMigrationsAsync(cancellationToken);
    }

    /// <summary>
    /// SQLite would create its file with the umask's mode (0644): create it empty (a valid empty database) with 0600
    /// first, like the keys beside it. SQLite gives its -wal and -shm files the database file's mode.
    /// </summary>
    private void CreatePrivateSqliteFile()
    {
        if (!db.Database.IsSqlite() || OperatingSystem.IsWindows())
        {
            return;
        }

        var source = new SqliteConnectionStringBuilder(db.Database.GetConnectionString()).DataSource;
        if (source.Length == 0 || source == ":memory:" || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var path = Path.GetFullPath(source);
        try
        {
            using var _ = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (DirectoryNotFoundException)
        {
            // SQLite reports a missing folder in its own words.
        }
        catch (IOException) when (File.Exists(path))
        {
            // It exists already (or another process just created it): its mode stands.
        }
    }

    private async Task<IReadOnlyList<string>> ApplyMigrationsAsync(CancellationToken cancellationToken)
    {
        var pending = await PendingMigrationsAsync(cancellationToken);
        if (pending.Count > 0)
        {
            await RefuseUnversionedSchemaAsync(cancellationToken);
            // Created up front: Npgsql's Migrate would first query the missing table and log that as an error.
            await db.Database.ExecuteSqlRawAsync(db.GetService<IHistoryRepository>().GetCreateIfNotExistsScript(), cancellationToken);
            await db.Database.MigrateAsync(cancellationToken);
            logger.LogInformation("Applied {Count} metadata migration(s): {Migrations}", pending.Count, string.Join(", ", pending));
        }

        return pending;
    }

    /// <summary>Like GetPendingMigrationsAsync, without querying a history table that does not exist yet (which logs an error on PostgreSQL).</summary>
    private async Task<IReadOnlyList<string>> PendingMigrationsAsync(CancellationToken cancellationToken)
    {
        var history = db.GetService<IHistoryRepository>();
        var applied = await TableExistsAsync(HistoryRepository.DefaultTableName, cancellationToken)
            ? (await history.GetAppliedMigrationsAsync(cancellationToken)).Select(m => m.MigrationId).ToHashSet(StringComparer.Ordinal)
            : [];
        return db.Database.GetMigrations().Where(m => !applied.Contains(m)).ToList();
    }

    /// <summary>Asks the catalog: probing with a query would log an error for every missing table.</summary>
    private async Task<bool> TableExistsAsync(string table, CancellationToken cancellationToken)
    {
        var count = db.Database.IsNpgsql()
            ? db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = {table}")
            : db.Database.SqlQuery<int>($"SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = {table}");
        return (await count.ToListAsync(cancellationToken)).Single() > 0;
    }

    /// <summary>A database made by EnsureCreated (before migrations) has the tables but no history: say so instead of failing on CREATE TABLE.</summary>
    private async Task RefuseUnversionedSchemaAsync(CancellationToken cancellationToken)
    {
        if (await TableExistsAsync(HistoryRepository.DefaultTableName, cancellationToken) || !await TableExistsAsync("builds", cancellationToken))
        {
            return; // versioned, or an empty database as expected
        }

        throw new InvalidOperationException(
            "The metadata database has AutoBuilder tables but no migration history (it was created before schema migrations existed); "
            + "it cannot be upgraded in place. Move the database aside (for SQLite: {data}/autobuilder.db) and start again; "
            + "the blobs stay where they are.");
    }

    /// <summary>
    /// With Auth:BootstrapAdminKey the admin user gets exactly that key (added if missing, so restarts and several
    /// processes are no-ops). Without it, the first start creates the admin with a random key in {data}/admin.key.
    /// </summary>
    private async Task BootstrapAdminAsync(string dataDirectory, CancellationToken cancellationToken)
    {
        if (authOptions.Value.BootstrapAdminKey is { Length: > 0 } bootstrapKey)
        {
            if (await keys.EnsureKeyAsync(AuthOptions.AdminUser, bootstrapKey, isAdmin: true, cancellationToken))
            {
                logger.LogInformation("Gave user '{User}' the key from Auth:BootstrapAdminKey", AuthOptions.AdminUser);
            }

            return;
        }

        if (await db.Users.AnyAsync(cancellationToken))
        {
            return;
        }

        var (_, key) = await keys.CreateKeyAsync(AuthOptions.AdminUser, isAdmin: true, cancellationToken);
        var path = Path.Combine(dataDirectory, "admin.key");
        File.Delete(path);
        SecretFile.WriteNew(path, key);
        logger.LogInformation("Created user 'admin'; its API key is in {Path} (mode 0600)", path);
    }

    /// <summary>PostgreSQL: a session advisory lock on a connection kept open for this context. SQLite: nothing (one writer anyway; EF locks its migrations).</summary>
    private async Task<IAsyncDisposable> LockAsync(CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
        {
            return new Unlock(null);
        }

        await db.Database.OpenConnectionAsync(cancellationToken);
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_lock({InitializationLockKey})", cancellationToken);
        return new Unlock(async () =>
        {
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_unlock({InitializationLockKey})", CancellationToken.None);
            await db.Database.CloseConnectionAsync();
        });
    }

    private sealed class Unlock(Func<Task>? release) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (release is not null)
            {
                await release();
            }
        }
    }
}
