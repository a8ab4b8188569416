using System.Runtime.CompilerServices;

// The tests drive the commands with their own console and environment (ClientCommands.Create(ClientConsole)).
[assembly: InternalsVisibleTo("AutoBuilder.Cli.Tests")]
