using System.CommandLine;
using System.Net;
using AutoBuilder.Cli.Client;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary>Runs a client command body: settings, client, and the mapping of failures to exit codes.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(
        ClientConsole console,
        CommonOptions common,
        ParseResult parseResult,
        Func<AutoBuilderClient, Task<int>> body,
        CancellationToken cancellationToken)
    {
        try
        {
            var settings = console.ResolveSettings(parseResult.GetValue(common.Server), parseResult.GetValue(common.Data));
            using var client = AutoBuilderClient.Create(settings);
            return await body(client);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.WriteWarning("interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (AutoBuilderApiException ex)
        {
            console.WriteError($"{(int)ex.StatusCode} {ex.Title}" + (ex.StatusCode == HttpStatusCode.Unauthorized ? " (check the API key)" : ""));
            if (!string.IsNullOrEmpty(ex.Detail))
            {
                console.Error.MarkupLineInterpolated($"{ex.Detail}");
            }

            return ExitCodes.Error;
        }
        catch (AutoBuilderClientException ex)
        {
            console.WriteError(ex.Message);
            return ExitCodes.Error;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException)
        {
            console.WriteError(ex.Message);
            return ExitCodes.Error;
        }
    }
}
