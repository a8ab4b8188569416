using System.ComponentModel.DataAnnotations;
using AutoBuilder.Core.Protocol;

namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Caches": how builds keep their dependency caches (docs/ARCHITECTURE.md, "Dependency caches").</summary>
public sealed class CacheOptions
{
    public const string Section = "Caches";

    /// <summary>Keyed (default): archives in the blob store, restored onto each build's local disk. Shared: one folder per
    /// project on the cache volume, written in place (Maven 3.8 is not safe there). Off: every build starts cold.</summary>
    public CacheMode Mode { get; set; } = CacheMode.Keyed;

    /// <summary>The largest archive one build saves; a larger cache is not saved (the log says so).</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxArchiveBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>What a project's archives may hold together; past it the least recently used are deleted.</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxProjectBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>
    /// What the read-only copies of exact hits a machine keeps for its builds (root runners, {cache}/layers) may hold
    /// together; past it the least recently used copy no build is using is deleted.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MaxLocalCopyBytes { get; set; } = 20L * 1024 * 1024 * 1024;

    /// <summary>The settings a runner receives in its spec.</summary>
    public CacheSettings Settings => new() { Mode = Mode, MaxArchiveBytes = MaxArchiveBytes, MaxLocalCopyBytes = MaxLocalCopyBytes };
}
