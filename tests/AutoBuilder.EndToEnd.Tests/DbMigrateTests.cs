using AutoBuilder.EndToEnd.Tests.Infrastructure;
using AutoBuilder.Tests.Shared;

namespace AutoBuilder.EndToEnd.Tests;

/// <summary>`autobuilder db migrate` as a real process, on the configuration sources `serve` reads.</summary>
public sealed class DbMigrateTests
{
    [Fact]
    public async Task DbMigrate_Sqlite_AppliesOnce_ThenIsANoOp_AndServeStartsWithoutMigrating()
    {
        var root = TestPaths.NewTempDirectory("db-migrate");
        var data = Path.Combine(root, "data");

        var first = await CliProcess.RunAsync(root, new Dictionary<string, string>(), "db", "migrate", "--data", data);
        var second = await CliProcess.RunAsync(root, new Dictionary<string, string>(), "db", "migrate", "--data", data);

        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("Applied 2 migration(s) to the Sqlite metadata database:", first.StdoutText, StringComparison.Ordinal);
        Assert.Contains("_InitialSchema", first.StdoutText, StringComparison.Ordinal);
        Assert.Contains("_BuildStepsAndCacheEntries", first.StdoutText, StringComparison.Ordinal);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("up to date: no migrations to apply (2 applied before)", second.StdoutText, StringComparison.Ordinal);
        await using (var server = await ServerProcess.StartAsync(data, new Dictionary<string, string> { ["Metadata:MigrateOnStart"] = "false" }))
        {
            using var client = server.CreateClient();
            Assert.Equal("ready\n", await client.GetStringAsync("/readyz"));
        }

        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task DbMigrate_Postgres_FromAConfigFile_AppliesOnce_ThenIsANoOp()
    {
        var root = TestPaths.NewTempDirectory("db-migrate-pg");
        await using var postgres = await PostgresServer.StartAsync();
        var config = Path.Combine(root, "autobuilder.json");
        await File.WriteAllTextAsync(config, System.Text.Json.JsonSerializer.Serialize(new
        {
            Metadata = new { Provider = "Postgres" },
            ConnectionStrings = new { Metadata = await postgres.CreateDatabaseAsync() },
        }));

        var first = await CliProcess.RunAsync(root, new Dictionary<string, string>(), "db", "migrate", "--data", Path.Combine(root, "data"), "--config", config);
        var second = await CliProcess.RunAsync(root, new Dictionary<string, string>(), "db", "migrate", "--data", Path.Combine(root, "data"), "--config", config);

        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("Applied 2 migration(s) to the Postgres metadata database:", first.StdoutText, StringComparison.Ordinal);
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("up to date", second.StdoutText, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task DbMigrate_UnreachablePostgres_FailsWithExitCode2_AndAMessage()
    {
        var root = TestPaths.NewTempDirectory("db-migrate-down");
        var result = await CliProcess.RunAsync(root, new Dictionary<string, string>
        {
            ["Metadata__Provider"] = "Postgres",
            ["ConnectionStrings__Metadata"] = "Host=127.0.0.1;Port=1;Username=postgres;Database=none;Timeout=3",
        }, "db", "migrate", "--data", Path.Combine(root, "data"));

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("autobuilder db migrate: ", result.Stderr, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }
}
