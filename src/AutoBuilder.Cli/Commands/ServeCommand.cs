using System.CommandLine;
using AutoBuilder.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AutoBuilder.Cli.Commands;

/// <summary>`autobuilder serve`: API + dispatcher + local executor on embedded defaults, or one role of a scaled deployment.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var data = ServerConfigurationOptions.Data();
        var urls = new Option<string>("--urls")
        {
            Description = "Address(es) to listen on, ';'-separated; port 0 picks a free port (env AUTOBUILDER_URLS)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("AUTOBUILDER_URLS") is { Length: > 0 } u ? u : "http://127.0.0.1:8080",
        };
        var role = new Option<ServerRole>("--role")
        {
            Description = "all (default), api or dispatcher",
            DefaultValueFactory = _ => ServerRole.All,
        };
        var config = ServerConfigurationOptions.Config();

        var command = new Command("serve", "Run the AutoBuilder server") { data, urls, role, config };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var request = new ServeRequest(parseResult.GetValue(data)!, parseResult.GetValue(urls)!, parseResult.GetValue(role), parseResult.GetValue(config));
            WebApplication app;
            try
            {
                app = AutoBuilderServer.Build(request);
                await app.InitializeAsync(cancellationToken);
            }
            catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
            {
                await Console.Error.WriteLineAsync($"autobuilder serve: {e.Message}");
                return ExitCodes.Error;
            }

            await using (app)
            {
                try
                {
                    await app.StartAsync(cancellationToken);
                }
                catch (Exception e) when (e is OptionsValidationException or InvalidOperationException)
                {
                    // Options are bound and validated as the host starts (a value that does not convert, e.g. an old
                    // Sandbox:Network=true): one line naming the key, not an unhandled exception.
                    await Console.Error.WriteLineAsync($"autobuilder serve: {e.Message}");
                    return ExitCodes.Error;
                }

                var address = app.Services.GetRequiredService<ServerAddress>();
                var paths = app.Services.GetRequiredService<ServerPaths>();
                var adminKey = app.Services.GetRequiredService<IOptions<AuthOptions>>().Value.BootstrapAdminKey is null
                    ? $"admin key in {Path.Combine(paths.DataDirectory, "admin.key")}"
                    : "admin key from Auth:BootstrapAdminKey";
                Console.WriteLine($"AutoBuilder listening on {address.PublicUrl.AbsoluteUri.TrimEnd('/')} (role {request.Role.ToString().ToLowerInvariant()}, data {paths.DataDirectory}; {adminKey})");
                await app.WaitForShutdownAsync(cancellationToken);
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
