using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoBuilder.Cli.Bench;

/// <summary>One scenario's result: printed as a table, written as JSON with --json.</summary>
public sealed record BenchReport
{
    public required string Scenario { get; init; }
    public required bool Quick { get; init; }
    public required DateTimeOffset Date { get; init; }
    public required BenchMachine Machine { get; init; }
    public required string Server { get; init; }
    public string? LoadBefore { get; init; }
    public string? LoadAfter { get; init; }
    public double DurationSeconds { get; init; }

    /// <summary>The scenario's figures, one object per row (typed per scenario; serialised as their runtime type).</summary>
    public required IReadOnlyList<object> Rows { get; init; }

    /// <summary>Targets from docs/ARCHITECTURE.md ("Performance targets") and whether each held.</summary>
    public IReadOnlyList<TargetCheck> Targets { get; init; } = [];

    public IReadOnlyList<string> Notes { get; init; } = [];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Prints a table; a scenario with several tables passes <paramref name="last"/> = false to all but the last, which alone carries targets and notes.</summary>
    public void WriteTable(TextWriter output, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, bool first = true, bool last = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (first)
        {
            output.WriteLine($"== {Scenario}{(Quick ? " (--quick)" : "")}: {Server}; {Machine.Cores} cores, {Machine.MemoryGiB} GiB; load {LoadBefore} -> {LoadAfter}; {DurationSeconds:0.0} s");
        }

        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        output.WriteLine(string.Join("  ", headers.Select((h, i) => h.PadLeft(widths[i]))));
        foreach (var row in all)
        {
            output.WriteLine(string.Join("  ", row.Select((c, i) => c.PadLeft(widths[i]))));
        }

        if (!last)
        {
            output.WriteLine();
            return;
        }

        foreach (var target in Targets)
        {
            output.WriteLine($"target {target.What}: {target.Target}; measured {target.Measured} -> {(target.Met ? "met" : "MISSED")}");
        }

        foreach (var note in Notes)
        {
            output.WriteLine("note: " + note);
        }

        output.WriteLine();
    }

    public static string F(double value, string format = "0") => value.ToString(format, CultureInfo.InvariantCulture);

    public static string F(double? value, string format = "0") => value is { } v ? F(v, format) : "n/a";
}

/// <summary>A target of docs/ARCHITECTURE.md's "Performance targets" table beside what was measured.</summary>
public sealed record TargetCheck(string What, string Target, string Measured, bool Met);
