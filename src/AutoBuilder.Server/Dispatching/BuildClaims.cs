using AutoBuilder.Core.Builds;
using AutoBuilder.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AutoBuilder.Server.Dispatching;

/// <summary>The claim of a queued build: one atomic statement, so two dispatchers can never both win it.</summary>
public static class BuildClaims
{
    /// <summary>Moves the build from Queued to Running under a new attempt and a lease; returns the attempt, or null if someone else was first.</summary>
    public static async Task<int?> TryClaimAsync(AutoBuilderDbContext db, string buildId, string leaseOwner, DateTimeOffset now, TimeSpan lease, DateTimeOffset queuedAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        if (db.Database.IsNpgsql())
        {
            return await TryClaimOnPostgresAsync(db, buildId, leaseOwner, now, lease, queuedAt, cancellationToken);
        }

        // SQLite has one writer at a time: the compare-and-set cannot interleave with another claim.
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

    /// <summary>
    /// The same compare-and-set as one statement, with two PostgreSQL refinements: a row another dispatcher is
    /// claiming right now is skipped (SKIP LOCKED) instead of waited for, and the new attempt comes back in the
    /// same round trip (RETURNING).
    /// </summary>
    private static async Task<int?> TryClaimOnPostgresAsync(AutoBuilderDbContext db, string buildId, string leaseOwner, DateTimeOffset now, TimeSpan lease, DateTimeOffset queuedAt, CancellationToken cancellationToken)
    {
        var queued = BuildStatus.Queued.ToString();
        var running = BuildStatus.Running.ToString();
        var none = BuildPhase.None.ToString();
        var queueSeconds = (now - queuedAt).TotalSeconds;
        var until = now + lease;
        var attempts = await db.Database.SqlQuery<int>($"""
            UPDATE builds SET "Status" = {running}, "Attempt" = "Attempt" + 1, "Phase" = {none}, "StartedAt" = {now}, "HeartbeatAt" = {now},
                "QueueSeconds" = {queueSeconds}, "LeaseOwner" = {leaseOwner}, "LeaseExpiresAt" = {until}
            WHERE "Id" = (SELECT "Id" FROM builds WHERE "Id" = {buildId} AND "Status" = {queued} FOR UPDATE SKIP LOCKED)
            RETURNING "Attempt" AS "Value"
            """).ToListAsync(cancellationToken);
        return attempts.Count == 0 ? null : attempts[0];
    }
}
