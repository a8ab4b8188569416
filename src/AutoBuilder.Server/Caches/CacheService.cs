using AutoBuilder.Core;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Caches;

/// <summary>The project and build a runner's cache call acts for: a build reads and writes its own project's caches only.</summary>
public sealed record CacheScope(string ProjectId, string BuildId);

/// <summary>
/// The server side of keyed dependency caches (docs/ARCHITECTURE.md, "Dependency caches"): find the archive to restore,
/// grant a create-only write of a new one, and register it once it is whole. A row is written only after its blob is
/// complete, so a restore never sees a half-saved archive; the blob's conditional create and the row's unique index
/// decide every race, and nothing is reserved ahead of the upload, so a saver that dies blocks nobody.
/// </summary>
public sealed class CacheService(AutoBuilderDbContext db, IBlobStore store, BlobLayout layout, IOptions<BuildOptions> buildOptions, TimeProvider time)
{
    /// <summary>The longest key (the column's size).</summary>
    public const int MaxKeyLength = 200;

    /// <summary>Restore keys a request may list.</summary>
    public const int MaxRestoreKeys = 16;

    /// <summary>The exact key, else the newest entry under the first restore key that has one; null when there is none.</summary>
    public async Task<CacheHit?> RestoreAsync(CacheScope scope, CacheRestoreRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(request);
        var toolchain = ValidToolchain(request.Toolchain);
        var key = ValidKey(request.Key, "key");
        var restoreKeys = request.RestoreKeys ?? [];
        if (restoreKeys.Count > MaxRestoreKeys)
        {
            throw new InvalidInputException("Too many restore keys", $"A restore lists at most {MaxRestoreKeys} restore keys.");
        }

        foreach (var prefix in restoreKeys)
        {
            ValidKey(prefix, "restore key");
        }

        var entries = db.CacheEntries.AsNoTracking().Where(e => e.ProjectId == scope.ProjectId && e.Toolchain == toolchain);
        var hit = await entries.FirstOrDefaultAsync(e => e.Key == key, cancellationToken);
        foreach (var prefix in restoreKeys)
        {
            if (hit is not null)
            {
                break;
            }

            hit = await entries.Where(e => e.Key.StartsWith(prefix)).OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id).FirstOrDefaultAsync(cancellationToken);
        }

        if (hit is null)
        {
            return null;
        }

        var now = time.GetUtcNow();
        await db.CacheEntries.Where(e => e.Id == hit.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.LastUsedAt, now), cancellationToken);
        var signed = await store.GetSignedUrlAsync(layout.CacheArchive(scope.ProjectId, toolchain, hit.Key), BlobPermission.Read, buildOptions.Value.RunnerLinkLifetime, cancellationToken);
        return new CacheHit
        {
            CacheId = hit.Id,
            Key = hit.Key,
            Exact = hit.Key == key,
            Size = hit.Size,
            Sha256 = hit.Sha256,
            Url = signed.Url,
            ExpiresAt = signed.ExpiresAt,
        };
    }

    /// <summary>A create-only write URL for the key's archive, or none with the reason when the key is saved already.</summary>
    public async Task<CacheSaveGrant> GrantSaveAsync(CacheScope scope, CacheSaveRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(request);
        var toolchain = ValidToolchain(request.Toolchain);
        var key = ValidKey(request.Key, "key");
        var blob = layout.CacheArchive(scope.ProjectId, toolchain, key);
        var properties = await store.GetPropertiesAsync(blob, cancellationToken);
        var entry = await FindAsync(scope.ProjectId, toolchain, key, cancellationToken);
        if (entry is not null)
        {
            if (properties is not null)
            {
                return SavedAlready;
            }

            // Its blob was deleted behind the row's back: a row that can only fail restores is dropped, and saved anew.
            await db.CacheEntries.Where(e => e.Id == entry.Id).ExecuteDeleteAsync(cancellationToken);
        }
        else if (properties is not null)
        {
            // A blob without a row: its saver died between upload and commit, or is between them now. Blobs appear only
            // whole (the filesystem store renames a finished file into place; Azure commits its blocks at once), so it is
            // adopted with the hash the store recorded or, where it records none, the hash read now. Deleting a hash-less
            // one instead raced a saver between its upload and its commit: that saver then registered the hash of a blob
            // a second saver had replaced. A broken archive is dropped by the first restore that finds it so.
            var sha256 = properties.Sha256 ?? await Sha256OfAsync(blob, cancellationToken);
            await TryRegisterAsync(NewEntry(scope.ProjectId, buildId: null, toolchain, key, properties.Size, sha256, properties.LastModified, time.GetUtcNow()), cancellationToken);
            return SavedAlready;
        }

        var signed = await store.GetSignedUrlAsync(blob, BlobPermission.Create, buildOptions.Value.RunnerLinkLifetime, cancellationToken);
        return new CacheSaveGrant { Url = signed.Url, ExpiresAt = signed.ExpiresAt };
    }

    /// <summary>Registers the archive just created: it must be there, whole, with the size and hash the saver measured.</summary>
    /// <returns>The id of the entry that holds the key now.</returns>
    /// <exception cref="ConflictException">The blob is missing, differs, or another archive was registered under the key first.</exception>
    public async Task<string> CommitAsync(CacheScope scope, CacheCommitRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(request);
        var toolchain = ValidToolchain(request.Toolchain);
        var key = ValidKey(request.Key, "key");
        if (request.Sha256 is not { Length: 64 } sha256 || !sha256.All(char.IsAsciiHexDigitLower) || request.Size < 0)
        {
            throw new InvalidInputException("Invalid cache archive", "A commit names the archive's size and its SHA-256 as 64 lower-case hex digits.");
        }

        var blob = layout.CacheArchive(scope.ProjectId, toolchain, key);
        var properties = await store.GetPropertiesAsync(blob, cancellationToken)
            ?? throw new ConflictException("Cache archive missing", $"There is no archive for key '{key}' to commit: upload it through the save link first.");
        if (properties.Size != request.Size)
        {
            throw new ConflictException("Cache archive differs", $"The archive for key '{key}' holds {properties.Size} bytes, not {request.Size}: another build's archive is there.");
        }

        // A store that records no hash (the filesystem's) is read when the key has no row yet: two savers' archives can be
        // of one size, and a grant may have replaced this saver's blob with another's meanwhile. A row must name the blob
        // that is there (one that exists was checked when it was registered; the insert below compares with it).
        var stored = properties.Sha256
            ?? (await FindAsync(scope.ProjectId, toolchain, key, cancellationToken) is null ? await Sha256OfAsync(blob, cancellationToken) : null);
        if (stored is not null && !string.Equals(stored, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ConflictException("Cache archive differs", $"The archive for key '{key}' has another SHA-256: another build's archive is there.");
        }

        var now = time.GetUtcNow();
        var registered = await TryRegisterAsync(NewEntry(scope.ProjectId, scope.BuildId, toolchain, key, request.Size, sha256, now, now), cancellationToken);
        if (!string.Equals(registered.Sha256, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ConflictException("Cache key saved by another build", $"Key '{key}' was registered first with another archive.");
        }

        return registered.Id;
    }

    private static readonly CacheSaveGrant SavedAlready = new() { Reason = "saved already" };

    private async Task<string> Sha256OfAsync(BlobRef blob, CancellationToken cancellationToken)
    {
        var content = await store.OpenReadAsync(blob, cancellationToken: cancellationToken);
        await using (content.ConfigureAwait(false))
        {
            return Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(content, cancellationToken));
        }
    }

    private CacheEntryEntity NewEntry(string projectId, string? buildId, string toolchain, string key, long size, string sha256, DateTimeOffset createdAt, DateTimeOffset now) => new()
    {
        Id = Ids.NewId(),
        ProjectId = projectId,
        Toolchain = toolchain,
        Key = key,
        Size = size,
        Sha256 = sha256.ToLowerInvariant(),
        CreatedAt = createdAt,
        LastUsedAt = now,
        BuildId = buildId,
    };

    /// <summary>
    /// Inserts the entry unless the key has one: the unique index on (project, toolchain, key) is the compare-and-set, on
    /// SQLite and PostgreSQL alike. Returns the entry that holds the key afterwards, this one or the first registered.
    /// </summary>
    private async Task<CacheEntryEntity> TryRegisterAsync(CacheEntryEntity entry, CancellationToken cancellationToken)
    {
        db.CacheEntries.Add(entry);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return entry;
        }
        catch (DbUpdateException)
        {
            // Outside a transaction the failed insert changed nothing; a row under the key means someone registered first.
            db.ChangeTracker.Clear();
            if (await FindAsync(entry.ProjectId, entry.Toolchain, entry.Key, cancellationToken) is { } first)
            {
                return first;
            }

            throw;
        }
    }

    private Task<CacheEntryEntity?> FindAsync(string projectId, string toolchain, string key, CancellationToken cancellationToken) =>
        db.CacheEntries.AsNoTracking().FirstOrDefaultAsync(e => e.ProjectId == projectId && e.Toolchain == toolchain && e.Key == key, cancellationToken);

    private static string ValidToolchain(string? toolchain) =>
        Toolchains.IsKnown(toolchain)
            ? toolchain!
            : throw new InvalidInputException("Invalid toolchain", $"'{Printable.Of(toolchain)}' is not one of {string.Join(", ", Toolchains.All)}.");

    /// <summary>Keys name a blob: one file name of letters, digits, '.', '_', '+', '-', at most <see cref="MaxKeyLength"/> characters.</summary>
    private static string ValidKey(string? key, string what) =>
        Ids.IsValidFileName(key) && key!.Length <= MaxKeyLength
            ? key
            : throw new InvalidInputException($"Invalid cache {what}",
                $"'{Printable.Of(key)}' is not a valid cache {what}: one file name of letters, digits, '.', '_', '+', '-', at most {MaxKeyLength} characters.");
}
