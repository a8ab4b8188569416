using System.CommandLine;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Cli.Commands;

/// <summary>`autobuilder db migrate`: brings the metadata schema up to date, from the same configuration `serve` reads.</summary>
internal static class DbCommand
{
    public static Command Create()
    {
        var data = ServerConfigurationOptions.Data();
        var config = ServerConfigurationOptions.Config();
        var migrate = new Command("migrate", "Apply pending schema migrations to the metadata database (Metadata:Provider, ConnectionStrings:Metadata)") { data, config };
        migrate.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                await using var app = AutoBuilderServer.Build(new ServeRequest(parseResult.GetValue(data)!, "http://127.0.0.1:0", ServerRole.All, parseResult.GetValue(config)));
                var result = await app.MigrateDatabaseAsync(cancellationToken);
                if (result.Applied.Count == 0)
                {
                    Console.WriteLine($"The {result.Provider} metadata database is up to date: no migrations to apply ({result.AppliedBefore} applied before).");
                }
                else
                {
                    Console.WriteLine($"Applied {result.Applied.Count} migration(s) to the {result.Provider} metadata database:");
                    foreach (var name in result.Applied)
                    {
                        Console.WriteLine($"  {name}");
                    }
                }

                return ExitCodes.Success;
            }
            catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
            {
                await Console.Error.WriteLineAsync($"autobuilder db migrate: {e.Message}");
                return ExitCodes.Error;
            }
        });
        return new Command("db", "Metadata database maintenance") { migrate };
    }
}
