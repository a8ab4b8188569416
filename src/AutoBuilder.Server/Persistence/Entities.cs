using AutoBuilder.Core.Builds;

namespace AutoBuilder.Server.Persistence;

// Metadata rows. Blobs hold the data; these hold who owns what and where each build stands.

public sealed class UserEntity
{
    public required string Name { get; set; }
    public bool IsAdmin { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ApiKeyEntity
{
    public required string Id { get; set; }
    public required string UserName { get; set; }
    /// <summary>SHA-256 of the key: the key itself is shown once and never stored.</summary>
    public required string Hash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

public sealed class ProjectEntity
{
    public required string Id { get; set; }
    public required string OwnerName { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>The last build number handed out; incremented atomically when a build is created.</summary>
    public int LastBuildNumber { get; set; }
}

public sealed class SourceEntity
{
    public required string Id { get; set; }
    public required string ProjectId { get; set; }
    public long Size { get; set; }
    public required string Sha256 { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class BuildEntity
{
    public required string Id { get; set; }
    public required string ProjectId { get; set; }
    public int Number { get; set; }
    /// <summary>Copied from the project so the dispatcher can be fair across users without a join.</summary>
    public required string OwnerName { get; set; }
    public required string SourceId { get; set; }
    public BuildStatus Status { get; set; }
    public BuildPhase Phase { get; set; }
    public string? RequestedToolchain { get; set; }
    public string? RequestedCommand { get; set; }
    public string? Toolchain { get; set; }
    public string? Command { get; set; }
    public string? Version { get; set; }
    /// <summary>Incremented by every claim; a runner's token names one attempt.</summary>
    public int Attempt { get; set; }
    public int? ExitCode { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset QueuedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public double? QueueSeconds { get; set; }
    public double? StageSeconds { get; set; }
    public double? BuildSeconds { get; set; }
    public double? PublishSeconds { get; set; }
    /// <summary>The dispatcher instance that runs the build, and until when its claim holds.</summary>
    public string? LeaseOwner { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public DateTimeOffset? HeartbeatAt { get; set; }
    /// <summary>True for a build brought in by `autobuilder migrate` from a legacy volume.</summary>
    public bool Imported { get; set; }
}

public sealed class ArtifactEntity
{
    public long Id { get; set; }
    public required string BuildId { get; set; }
    public required string ProjectId { get; set; }
    public required string Name { get; set; }
    public required string Version { get; set; }
    public long Size { get; set; }
    public required string Sha256 { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One step of a build's current attempt, in order (autobuilder.yml's steps; a plain command is one step).</summary>
public sealed class BuildStepEntity
{
    public long Id { get; set; }
    public required string BuildId { get; set; }
    /// <summary>0-based position in the build's steps.</summary>
    public int Index { get; set; }
    public required string Name { get; set; }
    public StepStatus Status { get; set; }
    public int? ExitCode { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public double? DurationSeconds { get; set; }
}

/// <summary>
/// A keyed dependency-cache archive of a project (blob cache/{projectId}/{toolchain}/{key}.tar.zst). A row exists only
/// for a complete archive: it is written after the blob, so a lookup never finds a half-saved entry.
/// </summary>
public sealed class CacheEntryEntity
{
    public required string Id { get; set; }
    public required string ProjectId { get; set; }
    public required string Toolchain { get; set; }
    public required string Key { get; set; }
    public long Size { get; set; }
    public required string Sha256 { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Last restore (or the save): the per-project size limit evicts the least recently used first.</summary>
    public DateTimeOffset LastUsedAt { get; set; }
    /// <summary>The build that saved it.</summary>
    public string? BuildId { get; set; }
}
