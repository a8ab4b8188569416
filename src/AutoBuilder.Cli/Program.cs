using System.CommandLine;
using AutoBuilder.Cli.Commands;

var root = new RootCommand("AutoBuilder: upload a project's source, build it in an isolated workspace, get the result back.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(RunnerCommand.Create());
root.Subcommands.Add(DbCommand.Create());
root.Subcommands.Add(AutoBuilder.Cli.Bench.BenchCommand.Create());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(KubernetesCommand.Create());
foreach (var command in ClientCommands.Create())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync();
