using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AutoBuilder.Tests.Shared;

/// <summary>
/// A real Azurite blob service on a free loopback port with its data in a fresh temp folder, deleted on dispose.
/// <see cref="StopAsync"/> and <see cref="StartAsync"/> stop it and start it again on the same port and folder (a storage
/// outage that keeps its data). Azurite is found at <c>.tools/node_modules/.bin/azurite-blob</c> under the repository
/// root (scripts/test.sh installs it there) or at <c>$AZURITE_BLOB</c>; without it the fixture fails, it never skips.
/// Shared by the test projects as a linked source file.
/// </summary>
internal sealed class AzuriteServer : IAsyncDisposable
{
    /// <summary>Azurite's well-known development account (public, documented by Microsoft).</summary>
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly string _executable;
    private Process? _process;

    private AzuriteServer(string executable, int port, string folder)
    {
        _executable = executable;
        Port = port;
        Folder = folder;
    }

    public int Port { get; }

    /// <summary>Azurite's data folder (kept across <see cref="StopAsync"/>/<see cref="StartAsync"/>).</summary>
    public string Folder { get; }

    /// <summary>The blob endpoint, path-style: http://127.0.0.1:{port}/devstoreaccount1.</summary>
    public Uri BlobEndpoint => new($"http://127.0.0.1:{Port}/{AccountName}");

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts Azurite on a free port with a fresh folder.</summary>
    public static async Task<AzuriteServer> StartNewAsync()
    {
        var server = new AzuriteServer(FindExecutable(), FreePort(), Path.Combine(Path.GetTempPath(), "autobuilder-azurite", Guid.NewGuid().ToString("N")));
        Directory.CreateDirectory(server.Folder);
        try
        {
            await server.StartAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Starts Azurite (again) on <see cref="Port"/> with <see cref="Folder"/>; returns once it accepts connections.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("Azurite is already running.");
        }

        var info = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // No --loose: Azurite then rejects what Azure would reject. SAS signatures and expiry are validated in every mode.
        foreach (var argument in new[]
        {
            "--location", Folder, "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--skipApiVersionCheck", "--silent", "--disableTelemetry",
        })
        {
            info.ArgumentList.Add(argument);
        }

        var output = new System.Text.StringBuilder();
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Azurite could not be started from '{_executable}'.");
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                string text;
                lock (output)
                {
                    text = output.ToString();
                }

                throw new InvalidOperationException($"Azurite ({_executable}) exited with code {process.ExitCode} on port {Port}: {text}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(50);
            }
            catch (SocketException e)
            {
                await StopAsync();
                throw new InvalidOperationException($"Azurite did not accept connections on port {Port} within 60 s.", e);
            }
        }
    }

    /// <summary>Stops Azurite (its data stays in <see cref="Folder"/>).</summary>
    public async Task StopAsync()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            // SIGINT, as an operator's stop: Azurite then saves its metadata. A SIGKILL loses blobs committed in the last
            // seconds (its metadata is flushed periodically), which real storage never does, and would fail the tests for it.
            using (var interrupt = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await interrupt.WaitForExitAsync();
            }

            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static string FindExecutable()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("AZURITE_BLOB");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return File.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new InvalidOperationException($"AZURITE_BLOB is '{fromEnvironment}', which does not exist.");
        }

        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, ".tools", "node_modules", ".bin", "azurite-blob");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "Azurite is not installed: the Azure storage tests need it. Run scripts/test.sh, or "
            + "'npm install --prefix .tools azurite@3.35.0 --no-audit --no-fund' in the repository root, or set AZURITE_BLOB to azurite-blob's path.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
