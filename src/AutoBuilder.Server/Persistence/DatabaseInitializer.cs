using AutoBuilder.Server.Auth;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Server.Persistence;

/// <summary>Prepares the metadata store at start-up and bootstraps the first admin.</summary>
public sealed class DatabaseInitializer(AutoBuilderDbContext db, ApiKeyService keys, ILogger<DatabaseInitializer> logger)
{
    public async Task InitializeAsync(string dataDirectory, CancellationToken cancellationToken = default)
    {
        await db.Database.EnsureCreatedAsync(cancellationToken);
        if (db.Database.IsSqlite())
        {
            // WAL lets the API read while the dispatcher writes; NORMAL sync is safe with WAL.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", cancellationToken);
        }

        if (await db.Users.AnyAsync(cancellationToken))
        {
            return;
        }

        var (_, key) = await keys.CreateKeyAsync("admin", isAdmin: true, cancellationToken);
        var path = Path.Combine(dataDirectory, "admin.key");
        File.Delete(path);
        SecretFile.WriteNew(path, key);
        logger.LogInformation("Created user 'admin'; its API key is in {Path} (mode 0600)", path);
    }
}
