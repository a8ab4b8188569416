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
}

/// <summary>One step to run: its name (unique in the build), its shell command, and its own time limit if any.</summary>
public sealed record StepDefinition(string Name, string Run, TimeSpan? Timeout = null);
