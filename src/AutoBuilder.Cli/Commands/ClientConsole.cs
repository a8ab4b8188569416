using AutoBuilder.Cli.Client;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary>Where the client commands read settings and write output; the defaults are the process's own.</summary>
internal sealed class ClientConsole
{
    public ClientConsole(IAnsiConsole output, IAnsiConsole error, Func<Stream> openStandardOutput, Func<string, string?> getEnvironmentVariable, bool interactive)
    {
        Out = output;
        Error = error;
        OpenStandardOutput = openStandardOutput;
        GetEnvironmentVariable = getEnvironmentVariable;
        Interactive = interactive;
    }

    public IAnsiConsole Out { get; }

    public IAnsiConsole Error { get; }

    /// <summary>Raw stdout for log bytes: nothing in a log is ever interpreted as markup.</summary>
    public Func<Stream> OpenStandardOutput { get; }

    public Func<string, string?> GetEnvironmentVariable { get; }

    /// <summary>True when stdout is a terminal: progress bars instead of plain lines.</summary>
    public bool Interactive { get; }

    /// <summary>What relative output folders (--out, the default autobuilder-out/...) resolve against: the current directory.</summary>
    public string WorkingDirectory { get; init; } = Environment.CurrentDirectory;

    public static ClientConsole CreateDefault()
    {
        var error = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var output = AnsiConsole.Console;
        return new ClientConsole(
            output,
            error,
            Console.OpenStandardOutput,
            Environment.GetEnvironmentVariable,
            output.Profile.Capabilities.Interactive && !Console.IsOutputRedirected);
    }

    public ClientSettings ResolveSettings(string? server, string? data) => ClientSettings.Resolve(server, data, GetEnvironmentVariable);

    public void WriteError(string message) => Error.MarkupLineInterpolated($"[red]error:[/] {message}");

    public void WriteWarning(string message) => Error.MarkupLineInterpolated($"[yellow]warning:[/] {message}");
}
