using AutoBuilder.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace AutoBuilder.Server.Hosting;

/// <summary>
/// One line per entry ("HH:mm:ss.fff info: Category[id] message exception"), with API keys, build tokens
/// and URL signatures masked by <see cref="SecretRedactor"/> — in the message and in the exception,
/// whose text may carry a signed URL (an HttpRequestException, say).
/// </summary>
public sealed class RedactingConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "autobuilder-redacting";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        ArgumentNullException.ThrowIfNull(textWriter);
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }

        var line = $"{DateTime.Now:HH:mm:ss.fff} {Level(logEntry.LogLevel)}: {logEntry.Category}[{logEntry.EventId.Id}] {message}";
        if (logEntry.Exception is not null)
        {
            line += " " + logEntry.Exception;
        }

        textWriter.WriteLine(SecretRedactor.Redact(line).ReplaceLineEndings(" "));
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}

public static class RedactingConsoleLogging
{
    /// <summary>The console logger with <see cref="RedactingConsoleFormatter"/>: no secret reaches the console.</summary>
    public static ILoggingBuilder AddRedactingConsole(this ILoggingBuilder builder) =>
        builder.AddConsole(o => o.FormatterName = RedactingConsoleFormatter.FormatterName)
            .AddConsoleFormatter<RedactingConsoleFormatter, ConsoleFormatterOptions>();
}
