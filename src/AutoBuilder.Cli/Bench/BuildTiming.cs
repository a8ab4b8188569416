using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;

namespace AutoBuilder.Cli.Bench;

/// <summary>One finished build's figures in milliseconds, from the server's timestamps and the runner's phase durations.</summary>
public sealed record BuildTiming(string BuildId, bool Succeeded, double UploadMs, double QueueMs, double StageMs, double BuildMs, double PublishMs, double TotalMs)
{
    /// <summary>Everything but the build command: upload, pick-up, runner start, stage, log, publish, finalize.</summary>
    public double OverheadMs => TotalMs - BuildMs;

    /// <param name="uploadMs">The client's time for the POST that uploaded the source and queued the build.</param>
    public static BuildTiming From(BuildDto build, double uploadMs)
    {
        ArgumentNullException.ThrowIfNull(build);
        var serverTotal = build.FinishedAt is { } finished ? (finished - build.QueuedAt).TotalMilliseconds : 0;
        return new BuildTiming(
            build.Id,
            build.Status == BuildStatus.Succeeded,
            uploadMs,
            Ms(build.Durations.Queue),
            Ms(build.Durations.Stage),
            Ms(build.Durations.Build),
            Ms(build.Durations.Publish),
            uploadMs + serverTotal);
    }

    private static double Ms(double? seconds) => (seconds ?? 0) * 1000;
}
