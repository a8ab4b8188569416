using System.Text.Json.Serialization;

namespace AutoBuilder.Core.Builds;

/// <summary>Queued → Running → one terminal state. Serialized in lower case ("timedout").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BuildStatus>))]
public enum BuildStatus
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("timedout")] TimedOut,
}

/// <summary>Where one step of a build stands (autobuilder.yml's steps; a plain command is one step).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StepStatus>))]
public enum StepStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("timedout")] TimedOut,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    /// <summary>Never ran: an earlier step failed.</summary>
    [JsonStringEnumMemberName("skipped")] Skipped,
}

/// <summary>What a running build is doing.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BuildPhase>))]
public enum BuildPhase
{
    [JsonStringEnumMemberName("none")] None,
    [JsonStringEnumMemberName("staging")] Staging,
    [JsonStringEnumMemberName("building")] Building,
    [JsonStringEnumMemberName("publishing")] Publishing,
}

/// <summary>How a runner says its build ended. Infrastructure failures are not outcomes: they are retried.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BuildOutcome>))]
public enum BuildOutcome
{
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("timedout")] TimedOut,
}

public static class BuildStatusExtensions
{
    public static bool IsTerminal(this BuildStatus status) =>
        status is BuildStatus.Succeeded or BuildStatus.Failed or BuildStatus.Cancelled or BuildStatus.TimedOut;

    public static BuildStatus ToStatus(this BuildOutcome outcome) => outcome switch
    {
        BuildOutcome.Succeeded => BuildStatus.Succeeded,
        BuildOutcome.TimedOut => BuildStatus.TimedOut,
        _ => BuildStatus.Failed,
    };

    public static string ToWire(this BuildStatus status) => status switch
    {
        BuildStatus.Queued => "queued",
        BuildStatus.Running => "running",
        BuildStatus.Succeeded => "succeeded",
        BuildStatus.Failed => "failed",
        BuildStatus.Cancelled => "cancelled",
        BuildStatus.TimedOut => "timedout",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
