using System.Globalization;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace AutoBuilder.Cli.Commands;

/// <summary>Human rendering of API objects. Every value goes through <see cref="Text"/>, never markup.</summary>
internal static class BuildView
{
    public static int ExitCodeOf(BuildStatus status) => status switch
    {
        BuildStatus.Failed or BuildStatus.TimedOut or BuildStatus.Cancelled => ExitCodes.BuildFailed,
        _ => ExitCodes.Success,
    };

    public static void WriteBuild(IAnsiConsole console, BuildDto build)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("field").AddColumn("value");
        Row(table, "build", $"{build.Id} (#{build.Number.ToString(CultureInfo.InvariantCulture)})");
        Row(table, "project", build.ProjectId);
        table.AddRow(new Text("status"), StatusText(build.Status));
        if (build.Status == BuildStatus.Running)
        {
            Row(table, "phase", build.Phase.ToString().ToLowerInvariant());
        }

        Row(table, "exit code", build.ExitCode?.ToString(CultureInfo.InvariantCulture));
        Row(table, "error", build.Error);
        Row(table, "toolchain", build.Toolchain);
        Row(table, "command", build.Command);
        Row(table, "version", build.Version);
        Row(table, "imported", build.Imported ? "yes, from a legacy volume (autobuilder migrate)" : null);
        if (build.Attempt > 1)
        {
            Row(table, "attempt", build.Attempt.ToString(CultureInfo.InvariantCulture));
        }

        Row(table, "queued", Time(build.QueuedAt));
        Row(table, "started", Time(build.StartedAt));
        Row(table, "finished", Time(build.FinishedAt));
        console.Write(table);

        var durations = build.Durations;
        if (durations.Queue is not null || durations.Stage is not null || durations.Build is not null || durations.Publish is not null)
        {
            var phases = new Table().Border(TableBorder.Rounded)
                .AddColumn("queue", c => c.RightAligned())
                .AddColumn("stage", c => c.RightAligned())
                .AddColumn("build", c => c.RightAligned())
                .AddColumn("publish", c => c.RightAligned());
            phases.AddRow(Seconds(durations.Queue), Seconds(durations.Stage), Seconds(durations.Build), Seconds(durations.Publish));
            console.Write(phases);
        }

        WriteSteps(console, build.Steps);
    }

    /// <summary>The steps of the build's current attempt: which one runs, how each ended and how long it took.</summary>
    public static void WriteSteps(IAnsiConsole console, IReadOnlyList<BuildStep> steps)
    {
        if (steps.Count == 0)
        {
            return;
        }

        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("#", c => c.RightAligned())
            .AddColumn("step")
            .AddColumn("status")
            .AddColumn("exit", c => c.RightAligned())
            .AddColumn("duration", c => c.RightAligned());
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            table.AddRow(
                new Text((i + 1).ToString(CultureInfo.InvariantCulture)),
                new Text(step.Name),
                StepStatusText(step.Status),
                new Text(step.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? ""),
                new Text(step.Status == StepStatus.Running ? $"since {Time(step.StartedAt)}" : Seconds(step.DurationSeconds)));
        }

        console.Write(table);
    }

    public static IRenderable StepStatusText(StepStatus status) => new Text(BuildSteps.Wire(status), status switch
    {
        StepStatus.Succeeded => new Style(Color.Green),
        StepStatus.Failed or StepStatus.TimedOut => new Style(Color.Red),
        StepStatus.Cancelled => new Style(Color.Yellow),
        StepStatus.Running => new Style(Color.Blue),
        _ => new Style(Color.Grey),
    });

    public static void WriteBuilds(IAnsiConsole console, IReadOnlyList<BuildDto> builds)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("#", c => c.RightAligned())
            .AddColumn("id")
            .AddColumn("status")
            .AddColumn("exit", c => c.RightAligned())
            .AddColumn("queued")
            .AddColumn("build s", c => c.RightAligned())
            .AddColumn("error");
        foreach (var build in builds)
        {
            table.AddRow(
                new Text(build.Number.ToString(CultureInfo.InvariantCulture)),
                new Text(build.Id),
                StatusText(build.Status),
                new Text(build.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? ""),
                new Text(Time(build.QueuedAt) ?? ""),
                new Text(Seconds(build.Durations.Build)),
                new Text(build.Error ?? ""));
        }

        console.Write(table);
    }

    public static void WriteProjects(IAnsiConsole console, IReadOnlyList<ProjectDto> projects)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("id")
            .AddColumn("owner")
            .AddColumn("builds", c => c.RightAligned())
            .AddColumn("created");
        foreach (var project in projects)
        {
            table.AddRow(
                new Text(project.Id),
                new Text(project.Owner),
                new Text(project.BuildCount.ToString(CultureInfo.InvariantCulture)),
                new Text(Time(project.CreatedAt) ?? ""));
        }

        console.Write(table);
    }

    public static void WriteKeys(IAnsiConsole console, IReadOnlyList<ApiKeyDto> keys)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("id", c => c.NoWrap()) // revoke needs it whole, even on an 80-column terminal
            .AddColumn("user")
            .AddColumn("role")
            .AddColumn("created")
            .AddColumn("revoked");
        foreach (var key in keys)
        {
            table.AddRow(
                new Text(key.Id),
                new Text(key.User),
                new Text(key.Admin ? "admin" : "user"),
                new Text(Time(key.CreatedAt) ?? ""),
                new Text(Time(key.RevokedAt) ?? ""));
        }

        console.Write(table);
    }

    public static void WriteCaches(IAnsiConsole console, CacheListDto caches)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("id", c => c.NoWrap()) // `caches delete` needs it whole
            .AddColumn("toolchain")
            .AddColumn("key")
            .AddColumn("size", c => c.RightAligned())
            .AddColumn("created")
            .AddColumn("last used");
        foreach (var cache in caches.Caches)
        {
            table.AddRow(
                new Text(cache.Id),
                new Text(cache.Toolchain),
                new Text(cache.Key),
                new Text(FormatBytes(cache.Size)),
                new Text(Time(cache.CreatedAt) ?? ""),
                new Text(Time(cache.LastUsedAt) ?? ""));
        }

        console.Write(table);
        var count = caches.Caches.Count;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{count} cache{(count == 1 ? "" : "s")}, {FormatBytes(caches.TotalBytes)} of {FormatBytes(caches.LimitBytes)} (Caches:MaxProjectBytes; the least recently used are evicted beyond it)"));
    }

    public static IRenderable StatusText(BuildStatus status) => new Text(status.ToWire(), status switch
    {
        BuildStatus.Succeeded => new Style(Color.Green),
        BuildStatus.Failed or BuildStatus.TimedOut => new Style(Color.Red),
        BuildStatus.Cancelled => new Style(Color.Yellow),
        _ => Style.Plain,
    });

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0 GiB", CultureInfo.InvariantCulture),
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0 MiB", CultureInfo.InvariantCulture),
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0 KiB", CultureInfo.InvariantCulture),
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static void Row(Table table, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            table.AddRow(new Text(name), new Text(value));
        }
    }

    private static string? Time(DateTimeOffset? value) =>
        value?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string Seconds(double? value) => value?.ToString("0.00 s", CultureInfo.InvariantCulture) ?? "-";
}
