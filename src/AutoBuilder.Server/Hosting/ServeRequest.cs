namespace AutoBuilder.Server.Hosting;

/// <summary>
/// What `autobuilder serve` was asked for on its command line. <paramref name="Settings"/> are further configuration
/// keys (as in the README, e.g. "Dispatcher:MaxConcurrentBuilds"); they override the config file and the environment.
/// </summary>
public sealed record ServeRequest(string DataDirectory, string Urls, ServerRole Role, string? ConfigFile = null, IReadOnlyDictionary<string, string?>? Settings = null);
