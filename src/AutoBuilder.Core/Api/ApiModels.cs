using AutoBuilder.Core.Builds;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Core.Api;

// Bodies of the public HTTP API v1 (docs/ARCHITECTURE.md, "HTTP API"; the call table is in README.md), shared by the server and the CLI.

public sealed record ProjectDto(string Id, string Owner, DateTimeOffset CreatedAt, int BuildCount);

public sealed record SourceDto(string Id, string ProjectId, long Size, string Sha256, DateTimeOffset CreatedAt);

/// <summary>POST /api/v1/projects/{projectId}/builds with a JSON body.</summary>
public sealed record CreateBuildRequest(string SourceId, string? Toolchain = null, string? Command = null);

public sealed record BuildDto
{
    public required string Id { get; init; }
    public required string ProjectId { get; init; }
    public required int Number { get; init; }
    public required BuildStatus Status { get; init; }
    public BuildPhase Phase { get; init; }
    public required string SourceId { get; init; }
    public int Attempt { get; init; }
    public int? ExitCode { get; init; }
    public string? Error { get; init; }
    public string? Toolchain { get; init; }
    public string? Command { get; init; }
    public string? Version { get; init; }
    public required DateTimeOffset QueuedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public PhaseDurations Durations { get; init; } = new();
    /// <summary>True for a build brought in by `autobuilder migrate` from a legacy volume (it never ran here).</summary>
    public bool Imported { get; init; }
    /// <summary>The current attempt's steps, in order (GET /api/v1/builds/{buildId} only; lists leave it empty).</summary>
    public IReadOnlyList<BuildStep> Steps { get; init; } = [];
}

public sealed record ArtifactDto(string Name, string Version, long Size, string Sha256, Uri Url, DateTimeOffset ExpiresAt);

/// <summary>POST /api/v1/users/{name}/keys[?admin=true] → 201. The key is shown this once.</summary>
public sealed record ApiKeyCreated(string User, string KeyId, string Key);

/// <summary>GET /api/v1/keys (admin): a key as the server keeps it, without the key or its hash. Admin is the user's role.</summary>
public sealed record ApiKeyDto(string Id, string User, bool Admin, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>One keyed dependency-cache archive of a project (GET /api/v1/projects/{projectId}/caches).</summary>
public sealed record CacheEntryDto(
    string Id, string Toolchain, string Key, long Size, string Sha256, DateTimeOffset CreatedAt, DateTimeOffset LastUsedAt, string? BuildId);

/// <summary>GET /api/v1/projects/{projectId}/caches: most recently used first; <see cref="LimitBytes"/> is Caches:MaxProjectBytes.</summary>
public sealed record CacheListDto(IReadOnlyList<CacheEntryDto> Caches, long TotalBytes, long LimitBytes);

/// <summary>DELETE /api/v1/projects/{projectId}/caches: the entries deleted and the bytes they held.</summary>
public sealed record CachesDeletedDto(int Deleted, long FreedBytes);

/// <summary>Routes of the public API, relative to the server's address.</summary>
public static class ApiRoutes
{
    public static string Projects => "api/v1/projects";
    public static string Project(string projectId) => $"api/v1/projects/{projectId}";
    public static string Sources(string projectId) => $"api/v1/projects/{projectId}/sources";
    public static string ProjectBuilds(string projectId) => $"api/v1/projects/{projectId}/builds";
    public static string ProjectCaches(string projectId) => $"api/v1/projects/{projectId}/caches";
    public static string ProjectCache(string projectId, string cacheId) => $"api/v1/projects/{projectId}/caches/{cacheId}";
    public static string Build(string buildId) => $"api/v1/builds/{buildId}";
    public static string BuildLog(string buildId, bool follow = false) => $"api/v1/builds/{buildId}/log" + (follow ? "?follow=true" : "");
    public static string BuildResult(string buildId) => $"api/v1/builds/{buildId}/result";
    public static string BuildArtifacts(string buildId) => $"api/v1/builds/{buildId}/artifacts";
    public static string CancelBuild(string buildId) => $"api/v1/builds/{buildId}/cancel";
    public static string RerunBuild(string buildId) => $"api/v1/builds/{buildId}/rerun";
    public static string UserKeys(string userName, bool admin = false) => $"api/v1/users/{userName}/keys" + (admin ? "?admin=true" : "");
    public static string Keys => "api/v1/keys";
    public static string Key(string keyId) => $"api/v1/keys/{keyId}";
}
