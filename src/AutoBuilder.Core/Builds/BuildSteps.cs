using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AutoBuilder.Core.Builds;

/// <summary>
/// One step of a build's current attempt as the runner reports it and the API returns it (autobuilder.yml's steps; a
/// plain command is one step named "build"). <see cref="StartedAt"/> is the runner's clock; <see cref="DurationSeconds"/>
/// is set once the step has ended.
/// </summary>
public sealed record BuildStep(
    string Name,
    StepStatus Status,
    int? ExitCode = null,
    DateTimeOffset? StartedAt = null,
    double? DurationSeconds = null);

/// <summary>
/// The rules about steps, shared by autobuilder.yml's loader (runner) and the runner protocol (server), and the format
/// of the section lines that mark each step in build.log (docs/ARCHITECTURE.md, "The log").
/// </summary>
public static partial class BuildSteps
{
    /// <summary>The step of a build that runs one command (autobuilder.yml's command, the request's, or the toolchain's default).</summary>
    public const string DefaultName = "build";

    public const int MaxNameLength = 100;

    /// <summary>The most steps a build may have.</summary>
    public const int MaxCount = 100;

    /// <summary>Non-empty, at most <see cref="MaxNameLength"/> characters, not blank, without control or format characters.</summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrWhiteSpace(name)
        && name.Length <= MaxNameLength
        && !name.Any(c => char.IsControl(c)
            || char.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);

    /// <summary>Why <paramref name="steps"/> cannot be a build's steps, or null: count, names (valid, unique ignoring case).</summary>
    public static string? Invalid(IReadOnlyList<BuildStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count > MaxCount)
        {
            return string.Create(CultureInfo.InvariantCulture, $"a build has at most {MaxCount} steps, not {steps.Count}");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var step in steps)
        {
            if (step is null || !IsValidName(step.Name))
            {
                return $"step name '{Printable.Of(step?.Name, MaxNameLength)}' is not valid: 1–{MaxNameLength} printable characters";
            }

            if (!seen.Add(step.Name))
            {
                return $"step name '{step.Name}' is used twice";
            }

            if (step.DurationSeconds is { } seconds && (!double.IsFinite(seconds) || seconds < 0))
            {
                return $"step '{step.Name}' has an invalid duration";
            }
        }

        return null;
    }

    // The section lines (after the log's "[autobuilder] " prefix). N is 1-based, M the number of steps; the name is
    // quoted with '\' and '"' escaped. A build cannot forge them: its own lines holding "[autobuilder]" get "[build] ".
    //   step N/M "NAME" started
    //   step N/M "NAME" ended: STATUS in SECONDS s[ (exit CODE)]
    //   step N/M "NAME" skipped

    /// <summary>The line that opens step <paramref name="index"/> (0-based) of <paramref name="count"/>.</summary>
    public static string StartedLine(int index, int count, string name) => $"{Head(index, count, name)} started";

    /// <summary>The line that closes a step that ran.</summary>
    public static string EndedLine(int index, int count, BuildStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var text = new StringBuilder(Head(index, count, step.Name))
            .Append(CultureInfo.InvariantCulture, $" ended: {Wire(step.Status)} in {step.DurationSeconds ?? 0:0.0} s");
        if (step.ExitCode is { } exitCode)
        {
            text.Append(CultureInfo.InvariantCulture, $" (exit {exitCode})");
        }

        return text.ToString();
    }

    /// <summary>The one line of a step that never ran.</summary>
    public static string SkippedLine(int index, int count, string name) => $"{Head(index, count, name)} skipped";

    /// <summary>A section line of build.log (with or without its "[autobuilder] " prefix), or null.</summary>
    public static SectionLine? ParseLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var match = SectionPattern().Match(line);
        if (!match.Success)
        {
            return null;
        }

        var number = int.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
        var count = int.Parse(match.Groups["m"].Value, CultureInfo.InvariantCulture);
        var name = Unescape(match.Groups["name"].Value);
        var kind = match.Groups["kind"].Value switch
        {
            "started" => SectionKind.Started,
            "skipped" => SectionKind.Skipped,
            _ => SectionKind.Ended,
        };
        StepStatus? status = kind switch
        {
            SectionKind.Started => StepStatus.Running,
            SectionKind.Skipped => StepStatus.Skipped,
            _ => ParseStatus(match.Groups["status"].Value),
        };
        double? seconds = match.Groups["seconds"].Success ? double.Parse(match.Groups["seconds"].Value, CultureInfo.InvariantCulture) : null;
        int? exit = match.Groups["exit"].Success ? int.Parse(match.Groups["exit"].Value, CultureInfo.InvariantCulture) : null;
        return status is null ? null : new SectionLine(kind, number - 1, count, name, status.Value, seconds, exit);
    }

    public static string Wire(StepStatus status) => status switch
    {
        StepStatus.Pending => "pending",
        StepStatus.Running => "running",
        StepStatus.Succeeded => "succeeded",
        StepStatus.Failed => "failed",
        StepStatus.TimedOut => "timedout",
        StepStatus.Cancelled => "cancelled",
        StepStatus.Skipped => "skipped",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    private static StepStatus? ParseStatus(string wire) =>
        Enum.GetValues<StepStatus>().Cast<StepStatus?>().FirstOrDefault(s => Wire(s!.Value) == wire);

    private static string Head(int index, int count, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"step {index + 1}/{count} \"{Escape(name)}\"");

    private static string Escape(string name) => name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private static string Unescape(string quoted) => EscapedPattern().Replace(quoted, m => m.Value[1..]);

    [GeneratedRegex("""\A(?:\[autobuilder\] )?step (?<n>[0-9]{1,9})/(?<m>[0-9]{1,9}) "(?<name>(?:[^"\\]|\\.)*)" (?<kind>started|skipped|ended: (?<status>[a-z]+) in (?<seconds>[0-9]+\.[0-9]) s(?: \(exit (?<exit>-?[0-9]{1,10})\))?)\z""")]
    private static partial Regex SectionPattern();

    [GeneratedRegex("""\\.""")]
    private static partial Regex EscapedPattern();
}

public enum SectionKind
{
    Started,
    Ended,
    Skipped,
}

/// <summary>A parsed section line of build.log: which step (0-based index of count), and how it stood.</summary>
public sealed record SectionLine(SectionKind Kind, int Index, int Count, string Name, StepStatus Status, double? Seconds, int? ExitCode);
