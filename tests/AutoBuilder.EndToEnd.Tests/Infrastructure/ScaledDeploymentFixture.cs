using System.Security.Cryptography;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A scaled deployment as real processes: two `serve --role api` and two `serve --role dispatcher` on one PostgreSQL
/// and one blob store, started in pairs (each pair races for the migration and the admin). The blob store is the
/// file-system one in a shared data folder unless a subclass supplies <see cref="StorageSettings"/> (e.g. Azurite:
/// start it in <see cref="StartStorageAsync"/> and return Storage:Provider plus its connection settings).
/// </summary>
public class ScaledDeploymentFixture : IAsyncLifetime
{
    /// <summary>The admin key every process bootstraps (Auth:BootstrapAdminKey).</summary>
    public const string AdminKey = "abk_scaledDeploymentAdminKey0123456789abcdefghij";

    private readonly string _root = TestPaths.NewTempDirectory("scaled");
    private PostgresServer? _postgres;

    public IReadOnlyList<ServerProcess> Apis { get; private set; } = [];

    public IReadOnlyList<ServerProcess> Dispatchers { get; private set; } = [];

    public IEnumerable<ServerProcess> All => Apis.Concat(Dispatchers);

    /// <summary>The data folder the four processes share (the file-system blob store lives in it).</summary>
    public string DataDirectory => Path.Combine(_root, "data");

    /// <summary>Blob-store settings shared by every process; none = the file-system store in <see cref="DataDirectory"/>.</summary>
    protected virtual IReadOnlyDictionary<string, string> StorageSettings => new Dictionary<string, string>();

    /// <summary>Starts whatever <see cref="StorageSettings"/> point at, before any server starts.</summary>
    protected virtual Task StartStorageAsync() => Task.CompletedTask;

    protected virtual Task StopStorageAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _postgres = await PostgresServer.StartAsync();
        await StartStorageAsync();
        var shared = new Dictionary<string, string>
        {
            ["Metadata:Provider"] = "Postgres",
            ["ConnectionStrings:Metadata"] = await _postgres.CreateDatabaseAsync("autobuilder"),
            ["Auth:BootstrapAdminKey"] = AdminKey,
            // Every process signs links and build tokens with one key: what one API signs, another verifies.
            ["Storage:SigningKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Dispatcher:PollInterval"] = "00:00:00.200",
            ["Dispatcher:MaxConcurrentBuilds"] = "3",
            ["RateLimits:PermitsPerSecond"] = "10000",
            ["RateLimits:Burst"] = "10000",
            // A runner process per build, as a Kubernetes deployment has (a Job each): a test can kill one runner alone.
            ["Executor:Runner"] = "Process",
            // Tests hand files to running builds through their project's shared cache folder.
            ["Caches:Mode"] = "Shared",
        };
        foreach (var (key, value) in StorageSettings)
        {
            shared[key] = value;
        }

        // The two APIs start together (racing for the migration and the admin), then the two dispatchers, which need their address.
        var apiStarts = Enumerable.Range(1, 2).Select(i => ServerProcess.StartAsync(DataDirectory, With(shared, "Executor:WorkspaceRoot", Path.Combine(_root, $"api{i}-ws")), role: "api")).ToList();
        Apis = await Task.WhenAll(apiStarts);
        Dispatchers = await Task.WhenAll(Enumerable.Range(1, 2).Select(i => ServerProcess.StartAsync(DataDirectory,
            With(With(shared, "Executor:WorkspaceRoot", Path.Combine(_root, $"dispatcher{i}-ws")), "Dispatcher:ApiUrl", Apis[i - 1].Url.ToString()),
            role: "dispatcher")));
    }

    public HttpClient Client(ServerProcess api) => api.CreateClient(AdminKey);

    public async Task DisposeAsync()
    {
        foreach (var process in All)
        {
            await process.DisposeAsync();
        }

        await StopStorageAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A build's leftovers may still be going away; the temp folder is swept later.
        }
    }

    private static Dictionary<string, string> With(IReadOnlyDictionary<string, string> settings, string key, string value) =>
        new(settings) { [key] = value };
}
