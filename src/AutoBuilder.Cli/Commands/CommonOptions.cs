using System.CommandLine;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Commands;

/// <summary>--server and --data, added to each client command (fresh instances per command).</summary>
internal sealed class CommonOptions
{
    public Option<string?> Server { get; } = new("--server")
    {
        Description = $"AutoBuilder server URL [env {ClientSettings.ServerVariable}, default {ClientSettings.DefaultServer}]",
        HelpName = "URL",
    };

    public Option<string?> Data { get; } = new("--data")
    {
        Description = $"Server data folder whose {ClientSettings.AdminKeyFileName} is used when {ClientSettings.ApiKeyVariable} is not set [env {ClientSettings.DataVariable}, default ./{ClientSettings.DefaultDataFolder}]",
        HelpName = "DIR",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(Data);
    }
}
