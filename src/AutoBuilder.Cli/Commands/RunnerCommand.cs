using System.CommandLine;
using System.Runtime.InteropServices;
using AutoBuilder.Runner;
using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Cli.Commands;

/// <summary>
/// `autobuilder runner`: runs one build attempt. The build token is the first line of stdin — never an argument
/// or a variable, which other processes could read — or, in a Kubernetes Job, the file its Secret is mounted as
/// (--token-file). For a local runner stdin stays open as a lifeline: at its end-of-file (the server died) the
/// build is stopped; a Job's runner is --detached.
/// </summary>
internal static class RunnerCommand
{
    public static Command Create()
    {
        var api = new Option<string>("--api") { Description = "The API's address", Required = true };
        var build = new Option<string>("--build") { Description = "The build id", Required = true };
        var workspace = new Option<string>("--workspace") { Description = "An empty folder on local disk for this attempt", Required = true };
        var cache = new Option<string?>("--cache") { Description = "The dependency-cache root; each project gets its own folder under projects/" };
        var detached = new Option<bool>("--detached") { Description = "Do not treat end-of-file on stdin as the parent's death (Kubernetes Jobs)" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Read the build token from this file (a mounted Secret) instead of stdin" };

        var command = new Command("runner", "Run one build attempt (started by AutoBuilder's executors)") { api, build, workspace, cache, detached, tokenFile };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            if (!Uri.TryCreate(parseResult.GetValue(api), UriKind.Absolute, out var apiUrl))
            {
                await Console.Error.WriteLineAsync("autobuilder runner: --api must be an absolute URL.");
                return ExitCodes.Error;
            }

            // Raw stdin: Console.In serializes reads under a lock, so a reader waiting for end-of-file would block everything.
            var stdin = Console.OpenStandardInput();
            string? token;
            if (parseResult.GetValue(tokenFile) is { } path)
            {
                try
                {
                    token = File.ReadLines(path).FirstOrDefault()?.Trim();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"autobuilder runner: cannot read the build token from {path}: {e.Message}");
                    return ExitCodes.Error;
                }

                if (string.IsNullOrEmpty(token))
                {
                    await Console.Error.WriteLineAsync($"autobuilder runner: the token file {path} is empty.");
                    return ExitCodes.Error;
                }
            }
            else
            {
                token = ReadLine(stdin);
                if (string.IsNullOrEmpty(token))
                {
                    await Console.Error.WriteLineAsync("autobuilder runner: expected the build token on the first line of stdin (or --token-file).");
                    return ExitCodes.Error;
                }
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            if (!parseResult.GetValue(detached))
            {
                _ = Task.Run(() => WatchParent(stdin, stop), CancellationToken.None);
            }

            using var loggerFactory = LoggerFactory.Create(b => b.AddRedactingConsole().SetMinimumLevel(LogLevel.Information));
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
            var startInfo = new RunnerStartInfo(apiUrl, parseResult.GetValue(build)!, token, parseResult.GetValue(workspace)!, parseResult.GetValue(cache));
            BuildRunner.ProtectProcessMemory();
            var runner = new BuildRunner(startInfo, http, loggerFactory.CreateLogger<BuildRunner>());
            return await runner.RunAsync(stop.Token);
        });
        return command;
    }

    /// <summary>Reads one line byte by byte, so nothing after it is consumed by a buffer.</summary>
    private static string? ReadLine(Stream input)
    {
        var bytes = new List<byte>();
        int b;
        while ((b = input.ReadByte()) is not -1 and not '\n')
        {
            bytes.Add((byte)b);
        }

        return bytes.Count == 0 && b == -1 ? null : System.Text.Encoding.UTF8.GetString([.. bytes]).Trim();
    }

    /// <summary>Stops the build when stdin ends: the server that started this runner is gone.</summary>
    private static void WatchParent(Stream input, CancellationTokenSource stop)
    {
        var buffer = new byte[256];
        while (input.Read(buffer) > 0)
        {
            // Anything after the token is ignored.
        }

        stop.Cancel();
    }
}
