using System.CommandLine;
using AutoBuilder.Cli.Client;
using AutoBuilder.Cli.Commands;

namespace AutoBuilder.Cli.Bench;

/// <summary>`autobuilder bench SCENARIO [--server URL] [--quick] [--json FILE]`: AutoBuilder measuring itself (docs/BENCHMARKS.md).</summary>
public static class BenchCommand
{
    public static IReadOnlyList<IBenchScenario> Scenarios { get; } =
    [
        new OverheadScenario(),
        new ConcurrencyScenario(),
        new ApiScenario(),
        new TransferScenario(),
        new ThroughputScenario(),
        new IopsScenario(),
        new CacheScenario(),
    ];

    public static Command Create()
    {
        var scenario = new Argument<string>("SCENARIO")
        {
            Description = "One of: " + string.Join(", ", Scenarios.Select(s => s.Name)),
        };
        scenario.AcceptOnlyFromAmong([.. Scenarios.Select(s => s.Name)]);
        var server = new Option<string?>("--server")
        {
            Description = $"Measure this AutoBuilder (key from {ClientSettings.ApiKeyVariable} or --data); default: an embedded server of the bench's own on a temp folder",
            HelpName = "URL",
        };
        var data = new Option<string?>("--data") { Description = "With --server: the data folder whose admin.key to use", HelpName = "DIR" };
        var quick = new Option<bool>("--quick") { Description = "Smaller sizes, fewer runs, shorter windows: each scenario in under 2 minutes" };
        var json = new Option<string?>("--json") { Description = "Also write the figures to this JSON file", HelpName = "FILE" };
        var samples = new Option<string?>("--samples") { Description = "The repository's samples folder (default: found above the current folder or the executable)", HelpName = "DIR" };

        var set = new Option<string[]>("--set")
        {
            Description = "Configuration for the embedded server, over the bench's own (repeatable), e.g. --set Executor:Runner=Process",
            HelpName = "KEY=VALUE",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("bench", "Measure AutoBuilder's speed and scale against the targets of docs/ARCHITECTURE.md: overhead, concurrency, api, transfer, throughput, iops, cache")
        {
            scenario, server, data, quick, json, samples, set,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var serverSettings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var pair in parseResult.GetValue(set) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    await Console.Error.WriteLineAsync($"autobuilder bench: --set expects KEY=VALUE (e.g. Executor:Runner=Process), got '{pair}'.");
                    return ExitCodes.Error;
                }

                serverSettings[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
            }

            if (serverSettings.Count > 0 && parseResult.GetValue(server) is not null)
            {
                await Console.Error.WriteLineAsync("autobuilder bench: --set configures the embedded server; it cannot change a --server deployment.");
                return ExitCodes.Error;
            }

            var samplesDirectory = parseResult.GetValue(samples) is { } s ? Path.GetFullPath(s) : FindSamples();
            var tempRoot = Path.Combine(Path.GetTempPath(), "autobuilder-bench-" + Guid.NewGuid().ToString("N")[..8]);
            var options = new BenchOptions
            {
                Quick = parseResult.GetValue(quick),
                ServerSettings = serverSettings,
                TempRoot = tempRoot,
                SamplesDirectory = samplesDirectory,
                MavenSettings = samplesDirectory is null ? null : Path.Combine(samplesDirectory, "maven-settings-offline.xml") is var m && File.Exists(m) ? m : null,
                Progress = Console.Error,
                Output = Console.Out,
            };
            try
            {
                ClientSettings? remote = null;
                if (parseResult.GetValue(server) is { } url)
                {
                    remote = ClientSettings.Resolve(url, parseResult.GetValue(data), Environment.GetEnvironmentVariable);
                }

                var name = parseResult.GetRequiredValue(scenario);
                var report = await Scenarios.Single(x => x.Name == name).RunAsync(new BenchRun(options, remote), cancellationToken);
                if (parseResult.GetValue(json) is { } file)
                {
                    await File.WriteAllTextAsync(file, report.ToJson(), cancellationToken);
                }

                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("autobuilder bench: interrupted.");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (e is BenchException or AutoBuilderClientException or ClientSettingsException or TimeoutException or IOException or InvalidOperationException)
            {
                await Console.Error.WriteLineAsync($"autobuilder bench: {e.Message}");
                return ExitCodes.Error;
            }
            finally
            {
                try
                {
                    Directory.Delete(tempRoot, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Nothing left to clean, or left in the temp folder.
                }
            }
        });
        return command;
    }

    /// <summary>samples/ (with maven-hello) above the current folder or the executable: the bench runs from a checkout.</summary>
    private static string? FindSamples()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "samples");
                if (Directory.Exists(Path.Combine(candidate, "maven-hello")))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
