using System.CommandLine;
using System.Runtime.InteropServices;
using AutoBuilder.Runner;
using Microsoft.Extensions.Logging;

namespace AutoBuilder.Cli.Commands;

/// <summary>
/// `autobuilder runner`: runs one build attempt. The build token is the first line of stdin — never an argument
/// or a variable, which other processes could read. For a local runner stdin stays open as a lifeline: at its
/// end-of-file (the server died) the build is stopped.
/// </summary>
internal static class RunnerCommand
{
    public static Command Create()
    {
        var api = new Option<Uri>("--api") { Description = "The API's address", Required = true };
        var build = new Option<string>("--build") { Description = "The build id", Required = true };
        var workspace = new Option<string>("--workspace") { Description = "An empty folder on local disk for this attempt", Required = true };
        var cache = new Option<string?>("--cache") { Description = "The shared dependency-cache folder" };
        var detached = new Option<bool>("--detached") { Description = "Do not treat end-of-file on stdin as the parent's death (Kubernetes Jobs)" };

        var command = new Command("runner", "Run one build attempt (started by AutoBuilder's executors)") { api, build, workspace, cache, detached };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var token = (await Console.In.ReadLineAsync(cancellationToken))?.Trim();
            if (string.IsNullOrEmpty(token))
            {
                await Console.Error.WriteLineAsync("autobuilder runner: expected the build token on the first line of stdin.");
                return 2;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            if (!parseResult.GetValue(detached))
            {
                _ = WatchParentAsync(stop);
            }

            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
            var options = new RunnerOptions(parseResult.GetValue(api)!, parseResult.GetValue(build)!, token, parseResult.GetValue(workspace)!, parseResult.GetValue(cache));
            var runner = new BuildRunner(options, http, loggerFactory.CreateLogger<BuildRunner>());
            return await runner.RunAsync(stop.Token);
        });
        return command;
    }

    /// <summary>Stops the build when stdin ends: the server that started this runner is gone.</summary>
    private static async Task WatchParentAsync(CancellationTokenSource stop)
    {
        var buffer = new char[256];
        try
        {
            while (await Console.In.ReadAsync(buffer, stop.Token) > 0)
            {
                // Anything after the token is ignored.
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await stop.CancelAsync();
    }
}
