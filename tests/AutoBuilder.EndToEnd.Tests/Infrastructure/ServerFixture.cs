namespace AutoBuilder.EndToEnd.Tests.Infrastructure;

/// <summary>One server per test class, on a data folder of its own, removed afterwards.</summary>
public class ServerFixture : IAsyncLifetime
{
    private readonly string _root = TestPaths.NewTempDirectory("server");

    public ServerProcess Server { get; private set; } = null!;

    protected virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    protected virtual IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>();

    public async Task InitializeAsync() => Server = await ServerProcess.StartAsync(Path.Combine(_root, "data"), Settings, Environment);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A build's leftovers may still be going away; the temp folder is swept later.
        }
    }
}
