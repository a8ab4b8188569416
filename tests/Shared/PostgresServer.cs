using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace AutoBuilder.Tests.Shared;

/// <summary>
/// A real, throw-away PostgreSQL cluster: initdb into a temp folder (owned by 'postgres' when the tests run as root,
/// since PostgreSQL refuses root), started on a free loopback port, stopped and deleted on dispose. Tests create a
/// fresh database each with <see cref="CreateDatabaseAsync"/>. Fails — never skips — when PostgreSQL cannot start.
/// Shared by the test projects as a linked source file.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _root;
    private readonly string _bin;
    private readonly string _dataDirectory;
    private int _databases;

    private PostgresServer(string root, string bin, int port)
    {
        _root = root;
        _bin = bin;
        _dataDirectory = Path.Combine(root, "data");
        Port = port;
    }

    public int Port { get; }

    /// <summary>Starts a fresh cluster; throws with the reason (binaries missing, initdb or start failed).</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries();
        var root = Path.Combine(Path.GetTempPath(), "autobuilder-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var server = new PostgresServer(root, bin, FreePort());
        try
        {
            if (Environment.UserName == "root")
            {
                await RunAsync("chown", ["postgres:postgres", root]);
            }

            await server.RunAsPostgresAsync("initdb", ["-D", server._dataDirectory, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
            var socketDirectory = root; // short path: Unix socket paths are limited to ~100 bytes
            await server.RunAsPostgresAsync("pg_ctl", ["-D", server._dataDirectory, "-l", Path.Combine(root, "server.log"), "-w", "-t", "60", "-o",
                $"-p {server.Port} -k {socketDirectory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
                "start"]);
            return server;
        }
        catch (Exception e)
        {
            var log = Path.Combine(root, "server.log");
            var detail = File.Exists(log) ? "\n--- server.log ---\n" + await File.ReadAllTextAsync(log) : "";
            await server.DisposeAsync();
            throw new InvalidOperationException($"Could not start a PostgreSQL server for the tests: {e.Message}{detail}", e);
        }
    }

    /// <summary>The connection string of one database of this cluster.</summary>
    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database, MaxPoolSize = 50 }.ConnectionString;

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null)
    {
        name ??= $"test_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid().ToString("N")[..8]}";
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (File.Exists(Path.Combine(_dataDirectory, "postmaster.pid")))
            {
                await RunAsPostgresAsync("pg_ctl", ["-D", _dataDirectory, "-m", "immediate", "-w", "stop"]);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: the temp folder is swept later.
            }
        }
    }

    private Task RunAsPostgresAsync(string tool, IReadOnlyList<string> arguments) =>
        Environment.UserName == "root"
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. arguments])
            : RunAsync(Path.Combine(_bin, tool), arguments);

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).Order(StringComparer.Ordinal).ToList()
            : [];
        return candidates.Count > 0
            ? candidates[^1]
            : throw new InvalidOperationException(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install the Debian package 'postgresql' (scripts/test.sh does so).");
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> arguments)
    {
        var startInfo = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {file}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await output}\n{await error}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
