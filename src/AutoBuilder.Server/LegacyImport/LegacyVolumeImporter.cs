using System.Buffers;
using System.Security.Cryptography;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Storage;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.LegacyImport;

/// <summary>
/// Copies a scanned <see cref="LegacyVolume"/> into the blob store, registers its projects, sources, builds and
/// artifacts in the metadata store, and verifies the result by re-reading every blob.
/// <para>
/// Safe to repeat and to interrupt: record ids derive from legacy names (<see cref="LegacyNames.RecordId"/>) and are
/// looked up before they are inserted; a blob already present with the same size and SHA-256 is skipped; blobs become
/// visible only when complete (the store's contract). The legacy volume is only ever opened for reading.
/// </para>
/// </summary>
public sealed class LegacyVolumeImporter(IBlobStore store, BlobLayout layout, AutoBuilderDbContext db, ILegacyImportProgress progress)
{
    private const int BufferSize = 1024 * 1024;
    private const int RecordBatchSize = 200;
    private const int MaxAttempts = 4;

    private readonly SemaphoreSlim _dbGate = new(1, 1);
    private readonly Lock _pendingLock = new();
    private readonly List<SourceEntity> _pendingSources = [];
    private readonly List<ArtifactEntity> _pendingArtifacts = [];

    /// <summary>SHA-256 of each legacy file as last verified (relative path → hash), for checking the recorded hashes.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _fileHashes = new(StringComparer.Ordinal);

    /// <summary>Files the copy phase skipped as identical (relative paths), so a repair can count them as copied instead.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _skippedFiles = new(StringComparer.Ordinal);

    private enum ItemKind
    {
        Source,
        Result,
        Log,
        Artifact,
        Cache,
    }

    /// <summary>Runs the migration (or, with <see cref="LegacyImportSettings.VerifyOnly"/>, only its verification).</summary>
    public async Task<LegacyImportReport> RunAsync(LegacyVolume volume, LegacyImportSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(settings);
        var report = new LegacyImportReport
        {
            Projects = volume.Projects.Count,
            Builds = volume.Projects.Count(p => p.HasBuild),
        };

        Dictionary<string, int> buildNumbers;
        if (settings.VerifyOnly)
        {
            buildNumbers = await FindBuildNumbersAsync(volume, cancellationToken);
        }
        else
        {
            var owner = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Name == settings.Owner, cancellationToken)
                ?? throw new LegacyImportException($"User '{settings.Owner}' does not exist. Create it first (autobuilder keys create --user {settings.Owner}) or name another with --owner.");
            buildNumbers = await RegisterProjectsAsync(volume, owner.Name, cancellationToken);
        }

        var items = Items(volume, buildNumbers);
        report.Files = items.Count;
        report.Bytes = items.Sum(i => i.File.Size);

        if (!settings.VerifyOnly)
        {
            progress.BeginPhase("copy", items.Count, report.Bytes);
            // Largest first: the long copies start early and overlap with the many small ones.
            await Parallel.ForEachAsync(
                items.OrderByDescending(i => i.File.Size),
                new ParallelOptions { MaxDegreeOfParallelism = settings.Parallelism, CancellationToken = cancellationToken },
                async (item, ct) => await CopyWithRetriesAsync(item, report, force: false, ct));
            await FlushRecordsAsync(force: true, cancellationToken);
            progress.EndPhase();
        }

        var outcomes = await VerifyItemsAsync("verify", items, settings.Parallelism, cancellationToken);
        if (!settings.VerifyOnly)
        {
            // A blob the store vouched for (size and SHA-256 metadata) whose content differs was skipped wrongly:
            // copy it again, unconditionally, and look once more. Artifacts are never overwritten.
            var repair = outcomes.Where(o => o.Value is { Missing: false } && o.Key.Owned && o.Key.Target is not null).Select(o => o.Key).ToList();
            if (repair.Count > 0)
            {
                progress.BeginPhase("repair", repair.Count, repair.Sum(i => i.File.Size));
                await Parallel.ForEachAsync(
                    repair,
                    new ParallelOptions { MaxDegreeOfParallelism = settings.Parallelism, CancellationToken = cancellationToken },
                    async (item, ct) => await CopyWithRetriesAsync(item, report, force: true, ct));
                await FlushRecordsAsync(force: true, cancellationToken);
                progress.EndPhase();
                foreach (var (item, outcome) in await VerifyItemsAsync("verify again", repair, settings.Parallelism, cancellationToken))
                {
                    outcomes[item] = outcome;
                }
            }
        }

        foreach (var (item, outcome) in outcomes)
        {
            switch (outcome)
            {
                case null:
                    report.Verified++;
                    report.VerifiedBytes += item.File.Size;
                    break;
                case { Missing: true }:
                    report.Missing.Add(outcome.Value.Problem);
                    break;
                default:
                    report.Mismatched.Add(outcome.Value.Problem);
                    break;
            }
        }

        await VerifyRecordsAsync(volume, items, report, cancellationToken);
        return report;
    }

    private sealed record Item(LegacyFile File, BlobRef? Target, ItemKind Kind, LegacyProject? Project, LegacyArtifact? Artifact)
    {
        /// <summary>Only the import writes here, so another blob at this path is an older copy and is replaced. Artifacts are shared with real builds: never replaced.</summary>
        public bool Owned => Kind != ItemKind.Artifact;

        public string TargetText => Target?.ToString() ?? "(no imported build record)";
    }

    private List<Item> Items(LegacyVolume volume, Dictionary<string, int> buildNumbers)
    {
        var items = new List<Item>();
        foreach (var project in volume.Projects)
        {
            var id = project.ProjectId;
            if (project.Source is { } source)
            {
                items.Add(new Item(source, layout.Source(id, LegacyNames.RecordId("source", project.LegacyName)), ItemKind.Source, project, null));
            }

            int? number = buildNumbers.TryGetValue(id, out var n) ? n : null;
            if (project.Result is { } result)
            {
                items.Add(new Item(result, number is { } r ? layout.BuildResult(id, r) : null, ItemKind.Result, project, null));
            }

            foreach (var log in project.Logs)
            {
                BlobRef? target = number is { } l ? log.Name == "build.log" ? layout.BuildLog(id, l) : layout.BuildLogFile(id, l, log.Name) : null;
                items.Add(new Item(log.File, target, ItemKind.Log, project, null));
            }

            foreach (var artifact in project.Artifacts)
            {
                items.Add(new Item(artifact.File, layout.Artifact(id, artifact.Version, artifact.Name), ItemKind.Artifact, project, artifact));
            }
        }

        items.AddRange(volume.CacheFiles.Select(c => new Item(c.File, layout.CacheTreeFile(c.BlobPath), ItemKind.Cache, null, null)));
        return items;
    }

    /// <summary>Creates the projects and their imported builds (numbers are needed for blob paths), in one transaction.</summary>
    private async Task<Dictionary<string, int>> RegisterProjectsAsync(LegacyVolume volume, string owner, CancellationToken cancellationToken)
    {
        var projectIds = volume.Projects.Select(p => p.ProjectId).ToList();
        var buildIds = volume.Projects.Where(p => p.HasBuild).Select(p => LegacyNames.RecordId("build", p.LegacyName)).ToList();
        var numbers = new Dictionary<string, int>(StringComparer.Ordinal);

        await _dbGate.WaitAsync(cancellationToken);
        try
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var existingProjects = (await db.Projects.AsNoTracking().Where(p => projectIds.Contains(p.Id)).ToListAsync(cancellationToken)).ToDictionary(p => p.Id, StringComparer.Ordinal);
            var existingBuilds = (await db.Builds.AsNoTracking().Where(b => buildIds.Contains(b.Id)).ToListAsync(cancellationToken)).ToDictionary(b => b.Id, StringComparer.Ordinal);
            foreach (var project in volume.Projects)
            {
                var buildId = LegacyNames.RecordId("build", project.LegacyName);
                var allFiles = (project.Source is null ? [] : new[] { project.Source }).Concat(project.BuildFiles).ToList();
                var isNew = !existingProjects.TryGetValue(project.ProjectId, out var entity);
                if (isNew)
                {
                    entity = new ProjectEntity { Id = project.ProjectId, OwnerName = owner, CreatedAt = allFiles.Min(f => f.LastWriteTime) };
                    db.Projects.Add(entity);
                }

                if (!project.HasBuild)
                {
                    continue;
                }

                if (existingBuilds.TryGetValue(buildId, out var existing))
                {
                    numbers[project.ProjectId] = existing.Number;
                    continue;
                }

                int number;
                if (isNew)
                {
                    number = entity!.LastBuildNumber = 1;
                }
                else
                {
                    // A project that is in use already: the same atomic increment as a new build through the API.
                    await db.Projects.Where(p => p.Id == project.ProjectId)
                        .ExecuteUpdateAsync(s => s.SetProperty(p => p.LastBuildNumber, p => p.LastBuildNumber + 1), cancellationToken);
                    number = await db.Projects.Where(p => p.Id == project.ProjectId).Select(p => p.LastBuildNumber).SingleAsync(cancellationToken);
                }

                db.Builds.Add(ImportedBuild(project, buildId, number, entity!.OwnerName));
                numbers[project.ProjectId] = number;
            }

            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            db.ChangeTracker.Clear();
        }
        finally
        {
            _dbGate.Release();
        }

        return numbers;
    }

    /// <summary>
    /// The legacy volume kept one build per project. It is imported as succeeded when it left a result.zip or artifacts,
    /// as failed when only logs remain; its times are the files' modification times (earliest = start, latest = end).
    /// </summary>
    private static BuildEntity ImportedBuild(LegacyProject project, string buildId, int number, string owner)
    {
        var files = project.BuildFiles.ToList();
        var started = files.Min(f => f.LastWriteTime);
        var succeeded = project.Result is not null || project.Artifacts.Count > 0;
        return new BuildEntity
        {
            Id = buildId,
            ProjectId = project.ProjectId,
            Number = number,
            OwnerName = owner,
            SourceId = project.Source is null ? "" : LegacyNames.RecordId("source", project.LegacyName),
            Status = succeeded ? BuildStatus.Succeeded : BuildStatus.Failed,
            Phase = BuildPhase.None,
            Attempt = 1,
            Version = project.Artifacts.OrderBy(a => a.File.LastWriteTime).LastOrDefault()?.Version,
            Error = succeeded ? null : "imported from a legacy volume that holds no result.zip for this project",
            QueuedAt = started,
            StartedAt = started,
            FinishedAt = files.Max(f => f.LastWriteTime),
            Imported = true,
        };
    }

    private async Task<Dictionary<string, int>> FindBuildNumbersAsync(LegacyVolume volume, CancellationToken cancellationToken)
    {
        var buildIds = volume.Projects.Where(p => p.HasBuild).Select(p => LegacyNames.RecordId("build", p.LegacyName)).ToList();
        var builds = await db.Builds.AsNoTracking().Where(b => buildIds.Contains(b.Id)).Select(b => new { b.ProjectId, b.Number }).ToListAsync(cancellationToken);
        return builds.ToDictionary(b => b.ProjectId, b => b.Number, StringComparer.Ordinal);
    }

    private async Task CopyWithRetriesAsync(Item item, LegacyImportReport report, bool force, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var reported = new long[1];
            try
            {
                await CopyAsync(item, report, reported, force, cancellationToken);
                progress.Advance(1, 0);
                return;
            }
            catch (Exception e) when (attempt < MaxAttempts && IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                progress.Advance(0, -Interlocked.Read(ref reported[0]));
                await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << attempt)), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                progress.Advance(1, item.File.Size - Interlocked.Read(ref reported[0]));
                lock (report)
                {
                    report.Failed.Add(new LegacyImportProblem(item.File.RelativePath, item.TargetText, e.Message));
                }

                return;
            }
        }
    }

    /// <summary>Copies one file unless an identical blob is there; <paramref name="force"/> copies regardless (a repair).</summary>
    private async Task CopyAsync(Item item, LegacyImportReport report, long[] reported, bool force, CancellationToken cancellationToken)
    {
        if (item.Target is not { } target)
        {
            throw new InvalidOperationException("the imported build has no record, so its blob path is unknown");
        }

        void OnBytes(long n)
        {
            Interlocked.Add(ref reported[0], n);
            progress.Advance(0, n);
        }

        var existing = await store.GetPropertiesAsync(target, cancellationToken);
        if (force && existing is not null)
        {
            if (_skippedFiles.TryRemove(item.File.RelativePath, out _))
            {
                lock (report)
                {
                    report.Skipped--; // counted as skipped by the copy phase: it is copied now
                }
            }
        }
        else if (existing is not null && existing.Size == item.File.Size)
        {
            var fileHash = await HashFileAsync(item.File, OnBytes, cancellationToken);
            var blobHash = existing.Sha256 ?? await HashBlobAsync(target, null, cancellationToken);
            if (string.Equals(fileHash, blobHash, StringComparison.OrdinalIgnoreCase))
            {
                lock (report)
                {
                    report.Skipped++;
                }

                _skippedFiles[item.File.RelativePath] = true;

                await AddRecordAsync(item, fileHash, cancellationToken);
                return;
            }
        }

        if (existing is not null && !item.Owned)
        {
            OnBytes(item.File.Size - Interlocked.Read(ref reported[0]));
            lock (report)
            {
                report.Mismatched.Add(new LegacyImportProblem(item.File.RelativePath, item.TargetText,
                    "an artifact with other content is already there; released artifacts are never overwritten (remove one of them by hand)"));
            }

            return;
        }

        OnBytes(-Interlocked.Read(ref reported[0]));
        BlobUploadResult result;
        await using (var file = OpenLegacyFile(item.File))
        await using (var counting = new ProgressReadStream(file, OnBytes))
        {
            result = await store.UploadAsync(target, counting, overwrite: existing is not null, cancellationToken);
        }

        if (result.Size != item.File.Size)
        {
            throw new IOException($"the file changed while it was copied ({item.File.Size} bytes when scanned, {result.Size} copied)");
        }

        lock (report)
        {
            report.Copied++;
            report.CopiedBytes += result.Size;
        }

        await AddRecordAsync(item, result.Sha256, cancellationToken);
    }

    /// <summary>Sources and artifacts are recorded with the SHA-256 of exactly what was stored, in batches.</summary>
    private async Task AddRecordAsync(Item item, string sha256, CancellationToken cancellationToken)
    {
        var project = item.Project;
        lock (_pendingLock)
        {
            switch (item.Kind)
            {
                case ItemKind.Source:
                    _pendingSources.Add(new SourceEntity
                    {
                        Id = LegacyNames.RecordId("source", project!.LegacyName),
                        ProjectId = project.ProjectId,
                        Size = item.File.Size,
                        Sha256 = sha256,
                        CreatedAt = item.File.LastWriteTime,
                    });
                    break;
                case ItemKind.Artifact:
                    _pendingArtifacts.Add(new ArtifactEntity
                    {
                        BuildId = LegacyNames.RecordId("build", project!.LegacyName),
                        ProjectId = project.ProjectId,
                        Name = item.Artifact!.Name,
                        Version = item.Artifact.Version,
                        Size = item.File.Size,
                        Sha256 = sha256,
                        CreatedAt = item.File.LastWriteTime,
                    });
                    break;
                default:
                    return;
            }
        }

        await FlushRecordsAsync(force: false, cancellationToken);
    }

    private async Task FlushRecordsAsync(bool force, CancellationToken cancellationToken)
    {
        List<SourceEntity> sources;
        List<ArtifactEntity> artifacts;
        lock (_pendingLock)
        {
            if (!force && _pendingSources.Count + _pendingArtifacts.Count < RecordBatchSize)
            {
                return;
            }

            sources = [.. _pendingSources];
            artifacts = [.. _pendingArtifacts];
            _pendingSources.Clear();
            _pendingArtifacts.Clear();
        }

        if (sources.Count == 0 && artifacts.Count == 0)
        {
            return;
        }

        await _dbGate.WaitAsync(cancellationToken);
        try
        {
            // Look up, then insert or correct, in one transaction: a re-run never adds a second row for the same file.
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var sourceIds = sources.Select(s => s.Id).ToList();
            var existingSources = (await db.Sources.Where(s => sourceIds.Contains(s.Id)).ToListAsync(cancellationToken)).ToDictionary(s => s.Id, StringComparer.Ordinal);
            foreach (var source in sources)
            {
                if (existingSources.TryGetValue(source.Id, out var row))
                {
                    row.Size = source.Size;
                    row.Sha256 = source.Sha256;
                }
                else
                {
                    db.Sources.Add(source);
                    existingSources[source.Id] = source;
                }
            }

            var buildIds = artifacts.Select(a => a.BuildId).Distinct().ToList();
            var existingArtifacts = (await db.Artifacts.Where(a => buildIds.Contains(a.BuildId)).ToListAsync(cancellationToken))
                .ToDictionary(a => (a.BuildId, a.Version, a.Name));
            foreach (var artifact in artifacts)
            {
                if (existingArtifacts.TryGetValue((artifact.BuildId, artifact.Version, artifact.Name), out var row))
                {
                    row.Size = artifact.Size;
                    row.Sha256 = artifact.Sha256;
                }
                else
                {
                    db.Artifacts.Add(artifact);
                    existingArtifacts[(artifact.BuildId, artifact.Version, artifact.Name)] = artifact;
                }
            }

            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            db.ChangeTracker.Clear();
        }
        finally
        {
            _dbGate.Release();
        }
    }

    /// <summary>Re-reads every blob and its legacy file and compares their SHA-256: null for a match, else what is wrong.</summary>
    private async Task<Dictionary<Item, (bool Missing, LegacyImportProblem Problem)?>> VerifyItemsAsync(string phase, List<Item> items, int parallelism, CancellationToken cancellationToken)
    {
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<Item, (bool Missing, LegacyImportProblem Problem)?>();
        progress.BeginPhase(phase, items.Count, items.Sum(i => i.File.Size));
        await Parallel.ForEachAsync(
            items.OrderByDescending(i => i.File.Size),
            new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken },
            async (item, ct) =>
            {
                var outcome = await VerifyItemAsync(item, ct);
                outcomes[item] = outcome;
                progress.Advance(1, outcome is null ? 0 : item.File.Size);
            });
        progress.EndPhase();
        return new Dictionary<Item, (bool Missing, LegacyImportProblem Problem)?>(outcomes);
    }

    private async Task<(bool Missing, LegacyImportProblem Problem)?> VerifyItemAsync(Item item, CancellationToken cancellationToken)
    {
        var path = item.File.RelativePath;
        if (item.Target is not { } target)
        {
            return (true, new LegacyImportProblem(path, item.TargetText, "the imported build is not recorded"));
        }

        var properties = await store.GetPropertiesAsync(target, cancellationToken);
        if (properties is null)
        {
            return (true, new LegacyImportProblem(path, item.TargetText, "not in the blob store"));
        }

        if (properties.Size != item.File.Size)
        {
            return (false, new LegacyImportProblem(path, item.TargetText, $"{properties.Size} bytes in the store, {item.File.Size} on the volume"));
        }

        var blobHash = HashBlobAsync(target, n => progress.Advance(0, n), cancellationToken);
        var fileHash = HashFileAsync(item.File, null, cancellationToken);
        await Task.WhenAll(blobHash, fileHash);
        _fileHashes[item.File.RelativePath] = await fileHash;
        return string.Equals(await blobHash, await fileHash, StringComparison.Ordinal)
            ? null
            : (false, new LegacyImportProblem(path, item.TargetText, $"SHA-256 differs: {await blobHash} in the store, {await fileHash} on the volume"));
    }

    private async Task VerifyRecordsAsync(LegacyVolume volume, List<Item> items, LegacyImportReport report, CancellationToken cancellationToken)
    {
        var projectIds = volume.Projects.Select(p => p.ProjectId).ToList();
        var buildIds = volume.Projects.Where(p => p.HasBuild).Select(p => LegacyNames.RecordId("build", p.LegacyName)).ToList();
        var sourceIds = volume.Projects.Where(p => p.Source is not null).Select(p => LegacyNames.RecordId("source", p.LegacyName)).ToList();
        var projects = (await db.Projects.AsNoTracking().Where(p => projectIds.Contains(p.Id)).Select(p => p.Id).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var builds = (await db.Builds.AsNoTracking().Where(b => buildIds.Contains(b.Id) && b.Imported).Select(b => b.Id).ToListAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var sources = (await db.Sources.AsNoTracking().Where(s => sourceIds.Contains(s.Id)).ToListAsync(cancellationToken)).ToDictionary(s => s.Id, s => s.Sha256, StringComparer.Ordinal);
        var artifacts = (await db.Artifacts.AsNoTracking().Where(a => buildIds.Contains(a.BuildId)).ToListAsync(cancellationToken))
            .GroupBy(a => (a.BuildId, a.Version, a.Name)).ToDictionary(g => g.Key, g => g.Select(a => a.Sha256).ToList());

        foreach (var project in volume.Projects)
        {
            if (!projects.Contains(project.ProjectId))
            {
                report.Missing.Add(new LegacyImportProblem(project.LegacyName, $"project {project.ProjectId}", "the project is not recorded"));
            }

            if (project.HasBuild && !builds.Contains(LegacyNames.RecordId("build", project.LegacyName)))
            {
                report.Missing.Add(new LegacyImportProblem(project.LegacyName, $"project {project.ProjectId}", "the imported build is not recorded"));
            }
        }

        foreach (var item in items.Where(i => i.Kind is ItemKind.Source or ItemKind.Artifact))
        {
            var project = item.Project!;
            List<string>? recorded = item.Kind == ItemKind.Source
                ? sources.TryGetValue(LegacyNames.RecordId("source", project.LegacyName), out var s) ? [s] : null
                : artifacts.TryGetValue((LegacyNames.RecordId("build", project.LegacyName), item.Artifact!.Version, item.Artifact.Name), out var a) ? a : null;
            var what = item.Kind == ItemKind.Source ? "source" : "artifact";
            if (recorded is null)
            {
                report.Missing.Add(new LegacyImportProblem(item.File.RelativePath, item.TargetText, $"the {what} is not recorded"));
            }
            else if (recorded.Count > 1)
            {
                report.Mismatched.Add(new LegacyImportProblem(item.File.RelativePath, item.TargetText, $"the {what} is recorded {recorded.Count} times"));
            }
            else if (_fileHashes.TryGetValue(item.File.RelativePath, out var hash) && !string.Equals(recorded[0], hash, StringComparison.Ordinal))
            {
                report.Mismatched.Add(new LegacyImportProblem(item.File.RelativePath, item.TargetText, $"the {what} is recorded with SHA-256 {recorded[0]}, the file has {hash}"));
            }
        }
    }

    private static FileStream OpenLegacyFile(LegacyFile file) => new(file.FullPath, new FileStreamOptions
    {
        Mode = FileMode.Open,
        Access = FileAccess.Read,
        Share = FileShare.ReadWrite | FileShare.Delete,
        BufferSize = 0,
        Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
    });

    private static async Task<string> HashFileAsync(LegacyFile file, Action<long>? onBytes, CancellationToken cancellationToken)
    {
        await using var stream = OpenLegacyFile(file);
        return await HashAsync(stream, onBytes, cancellationToken);
    }

    private async Task<string> HashBlobAsync(BlobRef blob, Action<long>? onBytes, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(blob, 0, cancellationToken);
        return await HashAsync(stream, onBytes, cancellationToken);
    }

    private static async Task<string> HashAsync(Stream stream, Action<long>? onBytes, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                onBytes?.Invoke(read);
            }

            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Worth another try: I/O and network hiccups, throttling and server errors. A missing legacy file is not.</summary>
    internal static bool IsTransient(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => false,
        BlobAlreadyExistsException => true, // written concurrently: the next attempt compares it and skips or replaces it
        IOException or HttpRequestException or TimeoutException => true,
        _ => e.InnerException is { } inner && IsTransient(inner),
    };
}
