namespace AutoBuilder.Runner.Configuration;

/// <summary>The optional autobuilder.yml at the source root. Every member is null when not set.</summary>
public sealed record BuildConfig
{
    public static BuildConfig Empty { get; } = new();

    public string? Toolchain { get; init; }
    public string? Command { get; init; }
    /// <summary>Globs relative to the source root; a leading '!' excludes.</summary>
    public IReadOnlyList<string>? Outputs { get; init; }
    /// <summary>Globs relative to the source root; a leading '!' excludes.</summary>
    public IReadOnlyList<string>? Artifacts { get; init; }
    public string? Version { get; init; }
    public TimeSpan? Timeout { get; init; }
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    /// <summary>Commands run in order in one workspace; the build ends at the first that fails. Never set together with <see cref="Command"/>.</summary>
    public IReadOnlyList<StepDefinition>? Steps { get; init; }
    /// <summary>cache: false, or cache: { key: [...], paths: [...] }.</summary>
    public CacheConfig? Cache { get; init; }
}

/// <summary>autobuilder.yml's cache: whether the project's dependency cache is used, and what keys and fills it.</summary>
public sealed record CacheConfig
{
    public static CacheConfig Off { get; } = new() { Enabled = false };

    public bool Enabled { get; init; } = true;
    /// <summary>Globs relative to the source root that replace the toolchain's manifest patterns in the key.</summary>
    public IReadOnlyList<string>? Key { get; init; }
    /// <summary>Extra folders relative to HOME, archived with the toolchain's.</summary>
    public IReadOnlyList<string>? Paths { get; init; }
}

/// <summary>One step to run: its name (unique in the build), its shell command, and its own time limit if any.</summary>
public sealed record StepDefinition(string Name, string Run, TimeSpan? Timeout = null);
