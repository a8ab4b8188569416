using System.Collections.Concurrent;
using AutoBuilder.Core;
using AutoBuilder.Core.Storage;
using AutoBuilder.Runner.Caching;
using AutoBuilder.Server.Builds;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Server.Caches;

/// <summary>A project's cache entries, most recently used first, with what they hold together and the project's limit.</summary>
public sealed record CacheListing(IReadOnlyList<CacheEntryEntity> Entries, long TotalBytes, long LimitBytes);

/// <summary>What a delete or an eviction removed: registered entries and their bytes (orphan archives not counted).</summary>
public sealed record CacheDeletion(int Deleted, long FreedBytes)
{
    public static CacheDeletion None { get; } = new(0, 0);
}

/// <summary>
/// The policy and management of a project's keyed dependency caches (docs/ARCHITECTURE.md, "Cache limits and
/// management"): list, delete one, delete all, the per-project size limit with least-recently-used eviction, and the
/// sweep of orphan archives.
/// </summary>
/// <remarks>
/// <para>Every delete removes the row first, by a compare-and-set (a DELETE whose WHERE names the row as it was read),
/// then the blob. Only the process whose DELETE removed the row deletes the blob and counts its bytes, so two
/// concurrent evictions never double-count; a restore that looks the entry up either finds the row (and the blob, or a
/// missing blob, which a restore treats as a miss) or does not find it. A blob whose delete failed after its row was
/// gone is an orphan that the sweep removes later.</para>
/// <para>An orphan is an archive under cache/{projectId}/ without a row. A saver uploads its archive before it
/// registers the row, so only orphans older than <see cref="OrphanGracePeriod"/> are deleted.</para>
/// </remarks>
public sealed class CacheCatalog(
    AutoBuilderDbContext db,
    IBlobStore store,
    BlobLayout layout,
    IOptions<CacheOptions> options,
    CacheSweepSchedule sweeps,
    TimeProvider time,
    ILogger<CacheCatalog> logger,
    ServerPaths? paths = null)
{
    /// <summary>An archive without a row is kept this long after it was written: its saver may not have registered it yet.</summary>
    public static readonly TimeSpan OrphanGracePeriod = TimeSpan.FromHours(1);

    private const string ArchiveSuffix = ".tar.zst";

    /// <summary>The project's entries, most recently used first, with their total size and Caches:MaxProjectBytes.</summary>
    public async Task<CacheListing> ListAsync(string projectId, CancellationToken cancellationToken = default)
    {
        var entries = await db.CacheEntries.AsNoTracking().Where(c => c.ProjectId == projectId)
            .OrderByDescending(c => c.LastUsedAt).ThenByDescending(c => c.CreatedAt).ThenBy(c => c.Id)
            .ToListAsync(cancellationToken);
        return new CacheListing(entries, entries.Sum(c => c.Size), options.Value.MaxProjectBytes);
    }

    /// <summary>
    /// Deletes one entry of the project: its row, then its archive (a missing archive is fine). Returns the entry, or
    /// null when the project has no such entry (or another delete removed it first). A malformed id is
    /// <see cref="InvalidInputException"/>.
    /// </summary>
    public async Task<CacheEntryEntity?> DeleteAsync(string projectId, string cacheId, CancellationToken cancellationToken = default)
    {
        if (!Ids.IsValidGeneratedId(cacheId))
        {
            throw new InvalidInputException("Invalid cache id", $"'{Printable.Of(cacheId, 80)}' is not a cache id: cache ids are 32 lower-case hex digits.");
        }

        var entry = await db.CacheEntries.AsNoTracking().FirstOrDefaultAsync(c => c.Id == cacheId && c.ProjectId == projectId, cancellationToken);
        if (entry is null)
        {
            return null;
        }

        var removed = await db.CacheEntries.Where(c => c.Id == entry.Id).ExecuteDeleteAsync(cancellationToken) == 1;
        if (!removed)
        {
            return null;
        }

        await DeleteArchiveAsync(entry, cancellationToken);
        return entry;
    }

    /// <summary>Deletes every entry of the project, then the archives no row names that are past the grace period.</summary>
    public async Task<CacheDeletion> DeleteAllAsync(string projectId, CancellationToken cancellationToken = default)
    {
        var entries = await db.CacheEntries.AsNoTracking().Where(c => c.ProjectId == projectId).ToListAsync(cancellationToken);
        var deleted = 0;
        long freed = 0;
        foreach (var entry in entries)
        {
            if (await db.CacheEntries.Where(c => c.Id == entry.Id).ExecuteDeleteAsync(cancellationToken) == 1)
            {
                await DeleteArchiveAsync(entry, cancellationToken);
                deleted++;
                freed += entry.Size;
            }
        }

        await SweepOrphansAsync(projectId, cancellationToken);
        return new CacheDeletion(deleted, freed);
    }

    /// <summary>
    /// Applies the per-project size limit: while the project's entries hold more than Caches:MaxProjectBytes, deletes
    /// the least recently used (never <paramref name="keep"/>). Call it after registering a new entry, with that entry
    /// as <paramref name="keep"/>; it is safe to call concurrently, from any number of processes. At most once an hour
    /// per project and process it also sweeps orphan archives (<see cref="SweepOrphansAsync"/>).
    /// </summary>
    /// <returns>The entries evicted and their bytes.</returns>
    public async Task<CacheDeletion> EnforceLimitAsync(string projectId, string? keep = null, CancellationToken cancellationToken = default)
    {
        var limit = options.Value.MaxProjectBytes;
        var deleted = 0;
        long freed = 0;
        var stale = true;
        while (stale)
        {
            stale = false;
            // One read is one snapshot: total and eviction order come from the same rows, so a plan never mixes a total
            // read before another eviction with candidates read after it.
            var entries = await db.CacheEntries.AsNoTracking().Where(c => c.ProjectId == projectId)
                .Select(c => new { c.Id, c.Toolchain, c.Key, c.Size, c.LastUsedAt, c.CreatedAt })
                .ToListAsync(cancellationToken);
            var total = entries.Sum(c => c.Size);
            foreach (var candidate in entries.Where(c => c.Id != keep)
                         .OrderBy(c => c.LastUsedAt).ThenBy(c => c.CreatedAt).ThenBy(c => c.Id, StringComparer.Ordinal))
            {
                if (total <= limit)
                {
                    break;
                }

                // Compare-and-set on the row as read: if another eviction removed it, or a restore used it since, the
                // plan is stale and is made again from a new read.
                var removed = await db.CacheEntries
                    .Where(c => c.Id == candidate.Id && c.LastUsedAt == candidate.LastUsedAt)
                    .ExecuteDeleteAsync(cancellationToken) == 1;
                if (!removed)
                {
                    stale = true;
                    break;
                }

                await DeleteArchiveAsync(projectId, candidate.Toolchain, candidate.Key, cancellationToken);
                total -= candidate.Size;
                deleted++;
                freed += candidate.Size;
                logger.LogInformation("Evicted cache {CacheId} ({Toolchain}/{Key}, {Size} bytes) of project {ProjectId}: its caches held more than Caches:MaxProjectBytes ({Limit} bytes)",
                    candidate.Id, candidate.Toolchain, candidate.Key, candidate.Size, projectId, limit);
            }
        }

        if (sweeps.TryBegin(projectId))
        {
            try
            {
                await SweepOrphansAsync(projectId, cancellationToken);
            }
            catch (IOException e)
            {
                // Housekeeping: an unreachable store must not fail the save that called this; the next sweep retries.
                logger.LogWarning(e, "Could not sweep the orphan cache archives of project {ProjectId}", projectId);
            }
        }

        return new CacheDeletion(deleted, freed);
    }

    /// <summary>
    /// Deletes the archives under cache/{projectId}/ that no row names and that were written more than
    /// <see cref="OrphanGracePeriod"/> ago (a saver that died between upload and registration, a failed blob delete).
    /// Only paths of the form {projectId}/{toolchain}/{key}.tar.zst are touched. Returns how many were deleted.
    /// </summary>
    public async Task<int> SweepOrphansAsync(string projectId, CancellationToken cancellationToken = default)
    {
        var cutoff = time.GetUtcNow() - OrphanGracePeriod;
        var old = new List<(BlobRef Blob, string Toolchain, string Key)>();
        await foreach (var item in store.ListAsync(layout.Containers.Cache, layout.CachePrefix(projectId), cancellationToken))
        {
            if (item.LastModified < cutoff && ParseArchive(projectId, item.Blob) is { } archive)
            {
                old.Add((item.Blob, archive.Toolchain, archive.Key));
            }
        }

        if (old.Count == 0)
        {
            return 0;
        }

        // Rows are read after the listing: an archive registered meanwhile is seen as registered.
        var registered = (await db.CacheEntries.AsNoTracking().Where(c => c.ProjectId == projectId)
                .Select(c => new { c.Toolchain, c.Key }).ToListAsync(cancellationToken))
            .Select(c => (c.Toolchain, c.Key)).ToHashSet();
        var deleted = 0;
        foreach (var (blob, toolchain, key) in old.Where(o => !registered.Contains((o.Toolchain, o.Key))))
        {
            if (await store.DeleteAsync(blob, cancellationToken))
            {
                deleted++;
                logger.LogInformation("Deleted orphan cache archive {Container}/{Path}: no cache entry names it", blob.Container, blob.Path);
            }
        }

        return deleted;
    }

    /// <summary>(toolchain, key) of a blob at exactly {projectId}/{toolchain}/{key}.tar.zst as <see cref="BlobLayout.CacheArchive"/> makes it, else null
    /// (e.g. a legacy cache tree file under maven/repository/ when a project is called "maven").</summary>
    private (string Toolchain, string Key)? ParseArchive(string projectId, BlobRef blob)
    {
        var relative = blob.Path[layout.CachePrefix(projectId).Length..];
        var parts = relative.Split('/');
        if (parts.Length != 2 || !parts[1].EndsWith(ArchiveSuffix, StringComparison.Ordinal))
        {
            return null;
        }

        var (toolchain, key) = (parts[0], parts[1][..^ArchiveSuffix.Length]);
        return Ids.IsValidProjectId(toolchain) && Ids.IsValidFileName(key) && layout.CacheArchive(projectId, toolchain, key) == blob
            ? (toolchain, key)
            : null;
    }

    private Task DeleteArchiveAsync(CacheEntryEntity entry, CancellationToken cancellationToken) =>
        DeleteArchiveAsync(entry.ProjectId, entry.Toolchain, entry.Key, cancellationToken);

    /// <summary>
    /// The row is gone already; a blob that is missing is fine, one that cannot be deleted now is left to the sweep. This
    /// machine's read-only copy of it goes too (its in-process runners' {cache}/layers); any other copy, here or on another
    /// runner, is refused by its SHA-256 from now on (<see cref="CacheLayers"/>).
    /// </summary>
    private async Task DeleteArchiveAsync(string projectId, string toolchain, string key, CancellationToken cancellationToken)
    {
        var blob = layout.CacheArchive(projectId, toolchain, key);
        try
        {
            await store.DeleteAsync(blob, cancellationToken);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Could not delete cache archive {Container}/{Path} (its entry is gone); the orphan sweep will retry", blob.Container, blob.Path);
        }

        try
        {
            if (paths is not null && !CacheLayers.Remove(paths.CacheDirectory, projectId, key))
            {
                logger.LogInformation("This machine's read-only copy of cache {Key} of project {ProjectId} is in use; no restore takes it, and eviction removes it", key, projectId);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(e, "Could not delete this machine's read-only copy of cache {Key} of project {ProjectId}; no restore takes it", key, projectId);
        }
    }
}

/// <summary>
/// When this process last swept each project's orphan archives, so that <see cref="CacheCatalog.EnforceLimitAsync"/>
/// sweeps at most once per <see cref="Interval"/> and project (a singleton: the catalog itself is scoped).
/// </summary>
public sealed class CacheSweepSchedule(TimeProvider time)
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastSweep = new(StringComparer.Ordinal);

    /// <summary>True (and the sweep counts as started now) when the project was not swept within <see cref="Interval"/>.</summary>
    public bool TryBegin(string projectId)
    {
        var now = time.GetUtcNow();
        while (true)
        {
            if (!_lastSweep.TryGetValue(projectId, out var last))
            {
                if (_lastSweep.TryAdd(projectId, now))
                {
                    return true;
                }

                continue;
            }

            if (now - last < Interval)
            {
                return false;
            }

            if (_lastSweep.TryUpdate(projectId, now, last))
            {
                return true;
            }
        }
    }
}
