namespace AutoBuilder.Cli.Bench;

/// <summary>What a bench run was asked for.</summary>
public sealed record BenchOptions
{
    /// <summary>Smaller sizes, fewer repetitions and shorter windows (each scenario &lt; 2 min; see docs/BENCHMARKS.md).</summary>
    public bool Quick { get; init; }

    /// <summary>Generated sources, the embedded server's folders and downloads live here; removed at the end.</summary>
    public required string TempRoot { get; init; }

    /// <summary>The repository's samples/ folder (maven-hello for the concurrency and iops scenarios).</summary>
    public string? SamplesDirectory { get; init; }

    /// <summary>The settings.xml Maven builds use (offline mirror); given to the embedded server.</summary>
    public string? MavenSettings { get; init; }

    /// <summary>--set KEY=VALUE: configuration for the embedded server, over the bench's own settings.</summary>
    public IReadOnlyDictionary<string, string> ServerSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Progress lines go here (stderr), tables to stdout.</summary>
    public TextWriter Progress { get; init; } = TextWriter.Null;

    public TextWriter Output { get; init; } = TextWriter.Null;

    public string RequireSamples() =>
        SamplesDirectory ?? throw new BenchException("Cannot find the samples folder (samples/maven-hello): run from the repository or pass --samples DIR.");
}

/// <summary>A bench run that cannot go on, with a message for the operator.</summary>
public sealed class BenchException(string message) : Exception(message);
