using System.Text;

namespace AutoBuilder.Runner;

/// <summary>
/// What a runner is started with, like a ProcessStartInfo: the API, its build attempt, the token, and where to work.
/// Not configuration: each executor (or `autobuilder runner`) makes one per attempt.
/// </summary>
/// <param name="ApiUrl">The API's base address (e.g. http://127.0.0.1:5000/).</param>
/// <param name="BuildId">The build this attempt belongs to.</param>
/// <param name="Token">The build token; kept in memory only, never passed to the build command.</param>
/// <param name="WorkspaceDirectory">A throw-away local folder owned by this attempt.</param>
/// <param name="CacheDirectory">Shared dependency caches; null keeps them inside the workspace.</param>
public sealed record RunnerStartInfo(Uri ApiUrl, string BuildId, string Token, string WorkspaceDirectory, string? CacheDirectory)
{
    /// <summary>How often the runner re-reports the building phase (the heartbeat) while the command runs.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(30);

    // Records print every property; the token must never reach a log line.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("ApiUrl = ").Append(ApiUrl)
            .Append(", BuildId = ").Append(BuildId)
            .Append(", Token = ***")
            .Append(", WorkspaceDirectory = ").Append(WorkspaceDirectory)
            .Append(", CacheDirectory = ").Append(CacheDirectory)
            .Append(", HeartbeatInterval = ").Append(HeartbeatInterval);
        return true;
    }
}
