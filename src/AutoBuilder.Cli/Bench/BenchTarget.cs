using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Bench;

/// <summary>
/// The server a scenario measures: a real deployment (--server, key from AUTOBUILDER_API_KEY or --data) or an embedded
/// `autobuilder serve` child of the bench's own. Only the embedded one can report its memory and be reconfigured.
/// </summary>
public sealed class BenchTarget : IAsyncDisposable
{
    private readonly HttpClient _http;

    private BenchTarget(Uri server, string apiKey, EmbeddedServer? embedded)
    {
        Server = server;
        ApiKey = apiKey;
        Embedded = embedded;
        // One pool for every simulated client: as many connections as there are concurrent requests.
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = int.MaxValue,
        }) { Timeout = Timeout.InfiniteTimeSpan };
        Client = new AutoBuilderClient(_http, server, apiKey);
    }

    public Uri Server { get; }

    public string ApiKey { get; }

    public EmbeddedServer? Embedded { get; }

    /// <summary>Shared by all of a scenario's requests (thread-safe, one connection pool).</summary>
    public AutoBuilderClient Client { get; }

    /// <summary>The --set overrides the embedded server runs with, as the report should name them ("" when none).</summary>
    public string Overrides { get; private init; } = "";

    public string Describe() => Embedded is null ? Server.AbsoluteUri : $"embedded server (pid {Embedded.ProcessId}) at {Server.AbsoluteUri}{Overrides}";

    /// <summary>Settings of the bench's embedded server; see docs/BENCHMARKS.md for why each differs from the defaults.</summary>
    public static Dictionary<string, string> EmbeddedSettings(BenchOptions options, string root, bool workspaceOnCache)
    {
        var settings = new Dictionary<string, string>
        {
            // N builds "at once" must run at once: the dispatcher's limit is not what is measured.
            ["Dispatcher:MaxConcurrentBuilds"] = "64",
            // The api scenario's clients share one key; the default 50/s per key would measure the limiter.
            ["RateLimits:PermitsPerSecond"] = "1000000",
            ["RateLimits:Burst"] = "1000000",
            ["Executor:WorkspaceRoot"] = workspaceOnCache ? Path.Combine(root, "data", "cache", "workspaces") : Path.Combine(root, "scratch"),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        if (options.MavenSettings is not null)
        {
            settings["Toolchains:Maven:SettingsFile"] = options.MavenSettings;
        }

        // --set last: an operator comparing configurations (e.g. Executor:Runner=Process) overrides any of the above.
        foreach (var (key, value) in options.ServerSettings)
        {
            settings[key] = value;
        }

        return settings;
    }

    public static async Task<BenchTarget> StartEmbeddedAsync(BenchOptions options, bool workspaceOnCache, CancellationToken cancellationToken)
    {
        var root = Path.Combine(options.TempRoot, "server-" + Guid.NewGuid().ToString("N")[..8]);
        var server = await EmbeddedServer.StartAsync(root, EmbeddedSettings(options, root, workspaceOnCache), cancellationToken);
        return new BenchTarget(server.Url, server.AdminKey, server)
        {
            Overrides = options.ServerSettings.Count == 0 ? "" : " with " + string.Join(", ", options.ServerSettings.Select(kv => $"{kv.Key}={kv.Value}")),
        };
    }

    public static BenchTarget Remote(ClientSettings settings) => new(settings.Server, settings.ApiKey, embedded: null);

    /// <summary>Peak server RSS (MB) since the last <see cref="ResetPeak"/>; null for a remote server.</summary>
    public double? PeakRssMb() => Embedded?.PeakRssMb();

    public double? RssMb() => Embedded?.RssMb();

    public void ResetPeak() => Embedded?.ResetPeak();

    /// <summary>CPU seconds of the server (in-process runners included) and of its reaped children (build commands) so far; null for a remote server.</summary>
    public (double Server, double Children)? CpuSeconds() => Embedded?.CpuSeconds();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        _http.Dispose();
        if (Embedded is not null)
        {
            await Embedded.DisposeAsync();
        }
    }
}
