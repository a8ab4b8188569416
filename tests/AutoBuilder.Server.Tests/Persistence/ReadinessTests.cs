using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace AutoBuilder.Server.Tests.Persistence;

/// <summary>/readyz of every role says which store does not answer.</summary>
public sealed class ReadinessTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Theory]
    [InlineData(ServerRole.Api)]
    [InlineData(ServerRole.Dispatcher)]
    public async Task Readyz_WithPostgresUp_IsReady(ServerRole role)
    {
        var settings = await MetadataApp.ProviderSettingsAsync("Postgres", postgres);
        settings["Dispatcher:ApiUrl"] = "http://127.0.0.1:1";
        await using var server = await StartedServer.StartAsync(role, settings);

        using var response = await server.Client.GetAsync(new Uri("/readyz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_WithTheDatabaseUnreachable_Is503_NamingTheMetadataStore()
    {
        var closedPort = ClosedPort();
        await using var server = await StartedServer.StartAsync(ServerRole.Api, new Dictionary<string, string?>
        {
            ["Metadata:Provider"] = "Postgres",
            ["ConnectionStrings:Metadata"] = $"Host=127.0.0.1;Port={closedPort};Username=postgres;Database=none;Timeout=5",
        }, initialize: false);

        using var response = await server.Client.GetAsync(new Uri("/readyz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("unreachable", body.RootElement.GetProperty("metadataStore").GetString());
        Assert.Equal("ok", body.RootElement.GetProperty("blobStore").GetString());
        Assert.Contains("metadata store: unreachable", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed: nothing listens there
    }

    private sealed class StartedServer : IAsyncDisposable
    {
        private readonly MetadataApp _app;

        private StartedServer(MetadataApp app)
        {
            _app = app;
            Client = new HttpClient { BaseAddress = app.Services.GetRequiredService<ServerAddress>().InternalUrl };
        }

        public HttpClient Client { get; }

        public static async Task<StartedServer> StartAsync(ServerRole role, Dictionary<string, string?> settings, bool initialize = true)
        {
            var app = await MetadataApp.CreateAsync(settings, initialize: initialize, role: role);
            if (!initialize)
            {
                // The blob store alone, so that only the database is missing.
                await app.Services.GetRequiredService<AutoBuilder.Core.Storage.IBlobStore>().InitializeAsync();
            }

            await app.App.StartAsync();
            return new StartedServer(app);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.App.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
