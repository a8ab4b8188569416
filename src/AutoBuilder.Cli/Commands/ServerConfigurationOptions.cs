using System.CommandLine;

namespace AutoBuilder.Cli.Commands;

/// <summary>
/// --data and --config, for every verb that reads the server's configuration (serve, db migrate, migrate), so that
/// each of them finds the same stores from the same arguments. Fresh instances per command.
/// </summary>
internal static class ServerConfigurationOptions
{
    public static Option<string> Data() => new("--data")
    {
        Description = "The server's data folder: metadata, blobs, cache and admin.key (env AUTOBUILDER_DATA)",
        HelpName = "DIR",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("AUTOBUILDER_DATA") is { Length: > 0 } d ? d : ".autobuilder",
    };

    public static Option<string?> Config() => new("--config")
    {
        Description = "The server's JSON configuration file (keys as in docs/ARCHITECTURE.md: Storage:Provider, Dispatcher:MaxConcurrentBuilds, ...)",
        HelpName = "FILE",
    };
}
