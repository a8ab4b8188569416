using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Dispatching;

/// <summary>The claim of a queued build: one compare-and-set, so two dispatchers can never both win it.</summary>
public static class BuildClaims
{
    /// <summary>Moves the build from Queued to Running under a new attempt and a lease; returns the attempt, or null if someone else was first.</summary>
    public static async Task<int?> TryClaimAsync(AutoBuilderDbContext db, string buildId, string leaseOwner, DateTimeOffset now, TimeSpan lease, DateTimeOffset queuedAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        var claimed = await db.Builds.Where(b => b.Id == buildId && b.Status == BuildStatus.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(b => b.Status, BuildStatus.Running)
                .SetProperty(b => b.Attempt, b => b.Attempt + 1)
                .SetProperty(b => b.Phase, BuildPhase.None)
                .SetProperty(b => b.StartedAt, now)
                .SetProperty(b => b.HeartbeatAt, now)
                .SetProperty(b => b.QueueSeconds, (now - queuedAt).TotalSeconds)
                .SetProperty(b => b.LeaseOwner, leaseOwner)
                .SetProperty(b => b.LeaseExpiresAt, now + lease), cancellationToken);
        return claimed == 0
            ? null
            : await db.Builds.AsNoTracking().Where(b => b.Id == buildId).Select(b => b.Attempt).SingleAsync(cancellationToken);
    }
}
