using System.CommandLine;
using AutoBuilder.Cli.Client;
using AutoBuilder.Cli.Commands;
using AutoBuilder.Core;
using AutoBuilder.Server.Hosting;
using AutoBuilder.Server.Persistence;
using AutoBuilder.Tests.Shared;
using Spectre.Console;

namespace AutoBuilder.Cli.Tests.Commands;

/// <summary>`autobuilder caches list|delete` against the real server (API role, in process), with entries seeded as a save leaves them.</summary>
public sealed class CachesCommandTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();
    private InProcessServer _server = null!;
    private string _apiKey = null!;

    public async Task InitializeAsync()
    {
        _server = await InProcessServer.StartAsync(ServerRole.Api);
        _apiKey = await _server.CreateUserKeyAsync("alice");
        using var client = Client();
        await client.PutProjectAsync("demo");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task List_PrintsEachCacheMostRecentlyUsedFirst_ThenTotalAndLimit()
    {
        var older = await SeedAsync("maven", "pom-3f2a", 400 * 1024, Start);
        var newer = await SeedAsync("npm", "lock-9c1d", 1536, Start.AddHours(1));

        Assert.Equal(ExitCodes.Success, await RunAsync("caches", "list", "demo"));

        var output = _out.ToString();
        var lines = output.Split('\n');
        var newerLine = Assert.Single(lines, l => l.Contains(newer.Id, StringComparison.Ordinal));
        var olderLine = Assert.Single(lines, l => l.Contains(older.Id, StringComparison.Ordinal));
        Assert.True(Array.IndexOf(lines, newerLine) < Array.IndexOf(lines, olderLine), output);
        Assert.Contains("npm", newerLine, StringComparison.Ordinal);
        Assert.Contains("lock-9c1d", newerLine, StringComparison.Ordinal);
        Assert.Contains("1.5 KiB", newerLine, StringComparison.Ordinal);
        Assert.Contains("maven", olderLine, StringComparison.Ordinal);
        Assert.Contains("pom-3f2a", olderLine, StringComparison.Ordinal);
        Assert.Contains("400.0 KiB", olderLine, StringComparison.Ordinal);
        Assert.Contains(Start.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), olderLine, StringComparison.Ordinal);
        Assert.Contains("2 caches, 401.5 KiB of 10.0 GiB (Caches:MaxProjectBytes", output, StringComparison.Ordinal);
        Assert.Equal("", _error.ToString());
    }

    [Fact]
    public async Task DeleteOne_DeletesThatCacheOnly_AndSaysSo()
    {
        var gone = await SeedAsync("maven", "gone", 1000, Start);
        var kept = await SeedAsync("maven", "kept", 1000, Start);

        Assert.Equal(ExitCodes.Success, await RunAsync("caches", "delete", "demo", gone.Id));

        Assert.Equal($"Deleted cache {gone.Id} of project demo.\n", _out.ToString());
        using var client = Client();
        Assert.Equal([kept.Id], (await client.GetCachesAsync("demo")).Caches.Select(c => c.Id));
        Assert.False(await CacheSeeder.ArchiveExistsAsync(_server.Services, "demo", "maven", "gone"));
    }

    [Fact]
    public async Task DeleteAll_DeletesEveryCache_AndPrintsCountAndBytes()
    {
        await SeedAsync("maven", "one", 300 * 1024, Start);
        await SeedAsync("gradle", "two", 100 * 1024, Start);

        Assert.Equal(ExitCodes.Success, await RunAsync("caches", "delete", "demo", "--all"));

        Assert.Equal("Deleted 2 caches of project demo (400.0 KiB freed).\n", _out.ToString());
        using var client = Client();
        Assert.Empty((await client.GetCachesAsync("demo")).Caches);
    }

    [Fact]
    public async Task DeleteOne_UnknownId_ExitsTwoWithProblemTitle()
    {
        Assert.Equal(ExitCodes.Error, await RunAsync("caches", "delete", "demo", Ids.NewId()));
        Assert.Contains("404 Cache not found", _error.ToString(), StringComparison.Ordinal);
        Assert.Equal("", _out.ToString());
    }

    [Fact]
    public async Task DeleteOne_MalformedId_ExitsTwoWithBadRequest()
    {
        Assert.Equal(ExitCodes.Error, await RunAsync("caches", "delete", "demo", "nope"));
        Assert.Contains("400 Invalid cache id", _error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Delete_NeitherOrBothOfIdAndAll_ExitsTwoAndDeletesNothing(bool both)
    {
        var entry = await SeedAsync("maven", "stays", 1000, Start);
        string[] args = both ? ["caches", "delete", "demo", entry.Id, "--all"] : ["caches", "delete", "demo"];

        Assert.Equal(ExitCodes.Error, await RunAsync(args));

        Assert.Contains(both ? "not both" : "or give --all", _error.ToString(), StringComparison.Ordinal);
        using var client = Client();
        Assert.Equal([entry.Id], (await client.GetCachesAsync("demo")).Caches.Select(c => c.Id));
    }

    [Fact]
    public async Task List_AnotherUsersProject_ExitsTwoWithNotFound()
    {
        using (var admin = AutoBuilderClient.Create(new ClientSettings(_server.Url, _server.AdminKey)))
        {
            await admin.PutProjectAsync("admins");
        }

        Assert.Equal(ExitCodes.Error, await RunAsync("caches", "list", "admins"));
        Assert.Contains("404 Project not found", _error.ToString(), StringComparison.Ordinal);
    }

    private AutoBuilderClient Client() => AutoBuilderClient.Create(new ClientSettings(_server.Url, _apiKey));

    private Task<CacheEntryEntity> SeedAsync(string toolchain, string key, int size, DateTimeOffset lastUsedAt) =>
        CacheSeeder.SeedAsync(_server.Services, "demo", toolchain, key, size, lastUsedAt);

    private async Task<int> RunAsync(params string[] args)
    {
        var console = new ClientConsole(
            CreateConsole(_out),
            CreateConsole(_error),
            () => new MemoryStream(),
            name => name switch
            {
                ClientSettings.ServerVariable => _server.Url.ToString(),
                ClientSettings.ApiKeyVariable => _apiKey,
                _ => null,
            },
            interactive: false);
        var root = new RootCommand();
        foreach (var command in ClientCommands.Create(console))
        {
            root.Subcommands.Add(command);
        }

        return await root.Parse(args).InvokeAsync();
    }

    private static IAnsiConsole CreateConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 400; // no wrapping inside the rows the tests look for
        return console;
    }
}
