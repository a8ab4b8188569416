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
}
