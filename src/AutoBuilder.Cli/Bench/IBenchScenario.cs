namespace AutoBuilder.Cli.Bench;

/// <summary>One `autobuilder bench SCENARIO`: measures, prints its table, returns its figures.</summary>
public interface IBenchScenario
{
    string Name { get; }

    Task<BenchReport> RunAsync(BenchRun run, CancellationToken cancellationToken);
}
