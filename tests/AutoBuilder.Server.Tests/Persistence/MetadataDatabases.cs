using AutoBuilder.Server.Hosting;
using AutoBuilder.Tests.Shared;
using Microsoft.AspNetCore.Builder;

namespace AutoBuilder.Server.Tests.Persistence;

/// <summary>One PostgreSQL cluster per test class; each test gets a database of its own.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? _server;

    internal PostgresServer Server => _server ?? throw new InvalidOperationException("PostgreSQL did not start.");

    public async Task InitializeAsync() => _server = await PostgresServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>
/// The server's own composition (API role: no dispatcher loop) on a fresh metadata database of either provider, in a
/// temp data folder. Several instances on one database behave like several processes: each has its own services.
/// </summary>
internal sealed class MetadataApp : IAsyncDisposable
{
    private MetadataApp(WebApplication app, string dataDirectory)
    {
        App = app;
        DataDirectory = dataDirectory;
    }

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;

    public string DataDirectory { get; }

    /// <summary>Settings that select the provider; for Postgres, a new database of the cluster.</summary>
    public static async Task<Dictionary<string, string?>> ProviderSettingsAsync(string provider, PostgresFixture postgres) => provider switch
    {
        "Sqlite" => new() { ["Metadata:Provider"] = "Sqlite" },
        "Postgres" => new() { ["Metadata:Provider"] = "Postgres", ["ConnectionStrings:Metadata"] = await postgres.Server.CreateDatabaseAsync() },
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, null),
    };

    /// <summary>Builds (and unless told otherwise initializes: migrate + admin) a server on the given settings.</summary>
    public static async Task<MetadataApp> CreateAsync(IReadOnlyDictionary<string, string?> settings, string? dataDirectory = null, bool initialize = true, ServerRole role = ServerRole.Api)
    {
        dataDirectory ??= Directory.CreateTempSubdirectory("metadata-").FullName;
        var app = AutoBuilderServer.Build(new ServeRequest(dataDirectory, "http://127.0.0.1:0", role, Settings: settings));
        var created = new MetadataApp(app, dataDirectory);
        if (initialize)
        {
            try
            {
                await app.InitializeAsync();
            }
            catch
            {
                await created.DisposeAsync();
                throw;
            }
        }

        return created;
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Another instance on the same folder may delete it first (DirectoryNotFoundException is one).
        }
    }
}
