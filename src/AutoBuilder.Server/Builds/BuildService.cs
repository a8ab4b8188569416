using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;
using AutoBuilder.Server.Auth;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Builds;

/// <summary>Projects and builds as a user sees them: creation, lookup under ownership, cancel.</summary>
public sealed class BuildService(AutoBuilderDbContext db, BuildSignals signals, TimeProvider time)
{
    private const int MaxCommandLength = 4096;

    /// <summary>A project the caller may use, or null (unknown and foreign look the same).</summary>
    public Task<ProjectEntity?> FindProjectAsync(Caller caller, string projectId, CancellationToken cancellationToken = default) =>
        Ids.IsValidProjectId(projectId)
            ? db.Projects.AsNoTracking().FirstOrDefaultAsync(p => p.Id == projectId && (caller.IsAdmin || p.OwnerName == caller.Name), cancellationToken)
            : Task.FromResult<ProjectEntity?>(null);

    /// <summary>A build the caller may see, or null.</summary>
    public Task<BuildEntity?> FindBuildAsync(Caller caller, string buildId, CancellationToken cancellationToken = default) =>
        Ids.IsValidGeneratedId(buildId)
            ? db.Builds.AsNoTracking().FirstOrDefaultAsync(b => b.Id == buildId && (caller.IsAdmin || b.OwnerName == caller.Name), cancellationToken)
            : Task.FromResult<BuildEntity?>(null);

    /// <summary>The projects the caller may see, by id.</summary>
    public async Task<IReadOnlyList<ProjectEntity>> ListProjectsAsync(Caller caller, CancellationToken cancellationToken = default) =>
        await db.Projects.AsNoTracking()
            .Where(p => caller.IsAdmin || p.OwnerName == caller.Name)
            .OrderBy(p => p.Id).ToListAsync(cancellationToken);

    /// <summary>A project's newest builds first; <paramref name="limit"/> is clamped to 1–500 (default 50).</summary>
    public async Task<IReadOnlyList<BuildEntity>> ListBuildsAsync(ProjectEntity project, int? limit, CancellationToken cancellationToken = default) =>
        await db.Builds.AsNoTracking().Where(b => b.ProjectId == project.Id)
            .OrderByDescending(b => b.Number).Take(Math.Clamp(limit ?? 50, 1, 500)).ToListAsync(cancellationToken);

    /// <summary>A build's promoted artifacts, by name.</summary>
    public async Task<IReadOnlyList<ArtifactEntity>> ListArtifactsAsync(BuildEntity build, CancellationToken cancellationToken = default) =>
        await db.Artifacts.AsNoTracking().Where(a => a.BuildId == build.Id).OrderBy(a => a.Name).ToListAsync(cancellationToken);

    /// <summary>The steps of a build's current attempt, in order.</summary>
    public async Task<IReadOnlyList<BuildStep>> ListStepsAsync(BuildEntity build, CancellationToken cancellationToken = default) =>
        await db.BuildSteps.AsNoTracking().Where(s => s.BuildId == build.Id).OrderBy(s => s.Index)
            .Select(s => new BuildStep(s.Name, s.Status, s.ExitCode, s.StartedAt, s.DurationSeconds)).ToListAsync(cancellationToken);

    /// <summary>Creates the project for the caller, or returns it when it is theirs already.</summary>
    public async Task<(ProjectEntity Project, bool Created)> EnsureProjectAsync(Caller caller, string projectId, CancellationToken cancellationToken = default)
    {
        if (!Ids.IsValidProjectId(projectId))
        {
            throw new InvalidInputException("Invalid project id",
                $"'{Truncate(projectId)}' is not a valid project id: use 1–63 lower-case letters, digits and dashes, starting with a letter or digit.");
        }

        var existing = await db.Projects.AsNoTracking().FirstOrDefaultAsync(p => p.Id == projectId, cancellationToken);
        if (existing is not null)
        {
            return caller.IsAdmin || existing.OwnerName == caller.Name
                ? (existing, false)
                : throw new ConflictException("Project id not available", $"The project id '{projectId}' is taken; choose another.");
        }

        var project = new ProjectEntity { Id = projectId, OwnerName = caller.Name, CreatedAt = time.GetUtcNow() };
        db.Projects.Add(project);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return (project, true);
        }
        catch (DbUpdateException)
        {
            // Created concurrently: answer as if it existed already.
            db.ChangeTracker.Clear();
            return await EnsureProjectAsync(caller, projectId, cancellationToken);
        }
    }

    public async Task<BuildEntity> CreateBuildAsync(ProjectEntity project, string? sourceId, string? toolchain, string? command, CancellationToken cancellationToken = default)
    {
        if (!Ids.IsValidGeneratedId(sourceId)
            || !await db.Sources.AnyAsync(s => s.Id == sourceId && s.ProjectId == project.Id, cancellationToken))
        {
            throw new InvalidInputException("Unknown source",
                $"Project '{project.Id}' has no source '{Truncate(sourceId)}'. Upload one with POST /api/v1/projects/{project.Id}/sources.");
        }

        if (toolchain is not null && !Toolchains.IsKnown(toolchain))
        {
            throw new InvalidInputException("Unknown toolchain", $"'{Truncate(toolchain)}' is not one of: {string.Join(", ", Toolchains.All)}.");
        }

        if (command is not null && (command.Length is 0 or > MaxCommandLength || command.Contains('\0', StringComparison.Ordinal)))
        {
            throw new InvalidInputException("Invalid command", $"The command must be 1–{MaxCommandLength} characters without NUL.");
        }

        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // The increment comes first, so the transaction holds the write lock before it reads the number.
        await db.Projects.Where(p => p.Id == project.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.LastBuildNumber, p => p.LastBuildNumber + 1), cancellationToken);
        var number = await db.Projects.Where(p => p.Id == project.Id).Select(p => p.LastBuildNumber).SingleAsync(cancellationToken);
        var build = new BuildEntity
        {
            Id = Ids.NewId(),
            ProjectId = project.Id,
            Number = number,
            OwnerName = project.OwnerName,
            SourceId = sourceId!,
            Status = BuildStatus.Queued,
            RequestedToolchain = toolchain,
            RequestedCommand = command,
            QueuedAt = now,
        };
        db.Builds.Add(build);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        signals.NotifyDispatcher();
        return build;
    }

    /// <summary>A new build of the same pinned source with the same requested toolchain and command (POST .../rerun).</summary>
    public async Task<BuildEntity> RerunAsync(BuildEntity build, CancellationToken cancellationToken = default)
    {
        if (build.Imported)
        {
            throw new ConflictException("Imported build", $"Build {build.Id} was imported from a legacy volume and has no source to build again.");
        }

        var project = await db.Projects.AsNoTracking().SingleAsync(p => p.Id == build.ProjectId, cancellationToken);
        return await CreateBuildAsync(project, build.SourceId, build.RequestedToolchain, build.RequestedCommand, cancellationToken);
    }

    /// <summary>Moves a queued or running build to cancelled; the dispatcher then stops its runner.</summary>
    public async Task<BuildEntity> CancelAsync(Caller caller, BuildEntity build, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var changed = await new BuildTransitions(db).TryCancelAsync(build.Id, $"cancelled by {caller.Name}", now, cancellationToken);
        var current = await db.Builds.AsNoTracking().SingleAsync(b => b.Id == build.Id, cancellationToken);
        if (!changed)
        {
            throw new ConflictException("Build already finished", $"Build {build.Id} is {current.Status.ToWire()} and cannot be cancelled.");
        }

        signals.NotifyBuildChanged(build.Id);
        return current;
    }

    public static BuildDto ToDto(BuildEntity b, IReadOnlyList<BuildStep>? steps = null) => new()
    {
        Id = b.Id,
        ProjectId = b.ProjectId,
        Number = b.Number,
        Status = b.Status,
        Phase = b.Phase,
        SourceId = b.SourceId,
        Attempt = b.Attempt,
        ExitCode = b.ExitCode,
        Error = b.Error,
        Toolchain = b.Toolchain ?? b.RequestedToolchain,
        Command = b.Command ?? b.RequestedCommand,
        Version = b.Version,
        QueuedAt = b.QueuedAt,
        StartedAt = b.StartedAt,
        FinishedAt = b.FinishedAt,
        Durations = new PhaseDurations { Queue = b.QueueSeconds, Stage = b.StageSeconds, Build = b.BuildSeconds, Publish = b.PublishSeconds },
        Imported = b.Imported,
        Steps = steps ?? [],
    };

    private static string Truncate(string? value) => Printable.Of(value, 80);
}
